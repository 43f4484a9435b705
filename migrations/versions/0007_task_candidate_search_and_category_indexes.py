"""task_candidates: the due index carries the searched copies; an index per (role, org unit, category)

Revision ID: 0007
Revises: 0006

Measured on 1,000,000 cases (bench/README.md, "What the profile led to"): with the copies of 0006 a search
still fetched every row of the user's queue (35,000) to test the code and title, and one category read
the queue's rows until it had a page and a count. Both now stay inside an index.
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_task_candidates_due", table_name="task_candidates")
    op.create_index("ix_task_candidates_due", "task_candidates",
                    ["role", "org_unit_id", "due_sort", "created_at", "task_id", "case_code", "title"])
    op.create_index("ix_task_candidates_category", "task_candidates",
                    ["role", "org_unit_id", "category", "due_sort", "created_at", "task_id", "assignee"])


def downgrade() -> None:
    op.drop_index("ix_task_candidates_category", table_name="task_candidates")
    op.drop_index("ix_task_candidates_due", table_name="task_candidates")
    op.create_index("ix_task_candidates_due", "task_candidates",
                    ["role", "org_unit_id", "due_sort", "created_at", "task_id"])
