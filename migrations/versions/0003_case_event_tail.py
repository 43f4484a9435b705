"""the tail of each case's event chain on the case row (seq, hash, at)

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("event_seq", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("event_hash", sa.String(length=64), nullable=False, server_default=GENESIS))
        batch.add_column(sa.Column("event_at", sa.DateTime(timezone=True), nullable=True))
    # Existing cases: copy the tail from their last event.
    op.execute("""
        UPDATE cases SET
          event_seq = COALESCE((SELECT MAX(e.seq) FROM events e WHERE e.case_id = cases.id), 0),
          event_hash = COALESCE((SELECT e.hash FROM events e WHERE e.case_id = cases.id
                                 ORDER BY e.seq DESC LIMIT 1), '%s'),
          event_at = (SELECT e.at FROM events e WHERE e.case_id = cases.id ORDER BY e.seq DESC LIMIT 1)
    """ % GENESIS)


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("event_at")
        batch.drop_column("event_hash")
        batch.drop_column("event_seq")
