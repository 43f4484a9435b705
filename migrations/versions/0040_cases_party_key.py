"""cases.party_key: the party phone's digits as the look-up reads them (+86, spaces, hyphens and full-width digits
out), indexed with the opening time, to find the same party's other cases at intake and on the case page
(重复件 / 重复信访). Filled here for the cases there are; each command keeps it from then on.

Revision ID: 0040
Revises: 0039
"""
import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0040"
down_revision = "0039"
branch_labels = None
depends_on = None


def _key(phone):
    # engine.case_codes.normalise_phone as it is today (a migration does not import the code it migrates)
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone or ""))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11 and digits[len(prefix)] == "1":
            return digits[len(prefix):]
    return digits or None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("party_key", sa.String(length=40), nullable=True))
    connection = op.get_bind()
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("party_phone", sa.String),
                     sa.column("party_key", sa.String))
    last = 0
    while True:  # in batches by id: a large table is neither read whole nor updated in one statement per row
        rows = connection.execute(sa.select(cases.c.id, cases.c.party_phone)
                                  .where(cases.c.id > last, cases.c.party_phone.is_not(None))
                                  .order_by(cases.c.id).limit(5000)).all()
        if not rows:
            break
        connection.execute(cases.update().where(cases.c.id == sa.bindparam("case_id"))
                           .values(party_key=sa.bindparam("key")),
                           [{"case_id": r.id, "key": _key(r.party_phone)} for r in rows])
        last = rows[-1].id
    op.create_index("ix_cases_party_key", "cases", ["party_key", "opened_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_party_key", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("party_key")
