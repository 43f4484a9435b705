"""timers: the pending index by (due_at, id), the drain's claim order

Revision ID: 0011
Revises: 0010

The drain claims due rows oldest first, ORDER BY due_at, id. The partial index on due_at alone gives the
due_at order only, so PostgreSQL sorted every group of rows due at the same moment for each batch of 200:
7-12 ms a batch with 36,000-68,000 rows due together (the bench's drain; in production a day's supervision
steps mostly fall at its 23:59:59, so they share one moment). With the id in the index the claim is
an index walk that stops after 200 rows. SQLite's index already ended with the rowid (= id), so the claim
did not sort there; the new index is the same walk.
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The new index first, so the scheduler always has one to claim through.
    op.create_index("ix_timers_due_id_pending", "timers", ["due_at", "id"], unique=False,
                    postgresql_where=sa.text("fired_at IS NULL"), sqlite_where=sa.text("fired_at IS NULL"))
    op.drop_index("ix_timers_due_pending", table_name="timers")


def downgrade() -> None:
    op.create_index("ix_timers_due_pending", "timers", ["due_at"], unique=False,
                    postgresql_where=sa.text("fired_at IS NULL"), sqlite_where=sa.text("fired_at IS NULL"))
    op.drop_index("ix_timers_due_id_pending", table_name="timers")
