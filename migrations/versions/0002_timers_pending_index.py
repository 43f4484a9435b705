"""partial index on pending timers (fast next-due and claim queries)

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_timers_due_pending", "timers", ["due_at"], unique=False,
                    postgresql_where=sa.text("fired_at IS NULL"), sqlite_where=sa.text("fired_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_timers_due_pending", table_name="timers")
