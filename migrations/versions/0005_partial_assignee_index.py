"""tasks.assignee index over claimed tasks only (SQLite ignored the full one: nearly all NULL)

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_tasks_assignee", table_name="tasks")
    op.create_index("ix_tasks_assignee", "tasks", ["assignee"], unique=False,
                    sqlite_where=sa.text("assignee IS NOT NULL"), postgresql_where=sa.text("assignee IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_tasks_assignee", table_name="tasks")
    op.create_index("ix_tasks_assignee", "tasks", ["assignee"], unique=False)
