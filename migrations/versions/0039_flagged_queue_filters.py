"""ix_task_candidates_flagged_process, ix_task_candidates_flagged_category: a queue's 群体性 / 高风险 rows by process
(newest first) and by category (due first), partial like ix_task_candidates_flagged. The task list's flagged walk
with a process or category filter otherwise takes the queue's process or category index and reads every row of
it to test the flag (36 ms at 1,000,000 cases for a process's newest first, against 5 ms unfiltered).

Revision ID: 0039
Revises: 0038
"""
import sqlalchemy as sa
from alembic import op

revision = "0039"
down_revision = "0038"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_task_candidates_flagged_process", "task_candidates",
                    ["role", "org_unit_id", "process_id", "created_at", "task_id"],
                    sqlite_where=sa.text("priority > 0"), postgresql_where=sa.text("priority > 0"))
    op.create_index("ix_task_candidates_flagged_category", "task_candidates",
                    ["role", "org_unit_id", "category", "due_sort", "created_at", "task_id"],
                    sqlite_where=sa.text("priority > 0"), postgresql_where=sa.text("priority > 0"))


def downgrade() -> None:
    op.drop_index("ix_task_candidates_flagged_category", table_name="task_candidates")
    op.drop_index("ix_task_candidates_flagged_process", table_name="task_candidates")
