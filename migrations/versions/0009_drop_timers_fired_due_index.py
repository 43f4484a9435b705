"""drop ix_timers_pending_due: the partial index ix_timers_due_pending serves every timer query

Revision ID: 0009
Revises: 0008

(fired_at, due_at) dates from before the partial index (0002). What is due next and the drain's claim both
ask for pending rows (fired_at IS NULL) by due_at, which the partial index answers; no query reads fired rows
by due_at. The index cost an entry per timer row written or deleted, and 80 MB at 1,000,000 cases.

From this release on, a task has a timer row for its next supervision-ladder step only; firing it adds the
next one. Rows from before (one per step) stay valid and fire once each, so no data changes here.
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_timers_pending_due", table_name="timers")


def downgrade() -> None:
    op.create_index("ix_timers_pending_due", "timers", ["fired_at", "due_at"], unique=False)
