"""tasks.urged_at / urged_by / urge_note: a director's manual 催办 on a task; org_units.phone: a unit's contact

Revision ID: 0021
Revises: 0020

The last manual 催办 stays on the task row (the holder sees it on the task page and as a marker in their list,
without another query per list page); every 催办 is also a `task_urged` event in the case's history. The
phone of an org unit is what the public look-up shows a party as the handling unit's contact.
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("urged_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("urged_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("urge_note", sa.Text(), nullable=True))
    with op.batch_alter_table("org_units") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("org_units") as batch:
        batch.drop_column("phone")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("urge_note")
        batch.drop_column("urged_by")
        batch.drop_column("urged_at")
