"""priority on cases, tasks and task_candidates: 群体性 / 高风险 cases first in the task lists and the ledger

Revision ID: 0025
Revises: 0024

1 for a case whose data flags it (engine/group_cases.flags), copied onto its task rows and candidate rows; two
partial indexes hold only the flagged rows, walked beside each list's own walk. Cases flagged before this
revision are found by their case_flagged event.
"""
import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("cases", "tasks", "task_candidates"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE cases SET priority = 1 WHERE id IN "
               "(SELECT case_id FROM events WHERE type = 'case_flagged')")
    op.execute("UPDATE tasks SET priority = 1 WHERE case_id IN (SELECT id FROM cases WHERE priority = 1)")
    op.execute("UPDATE task_candidates SET priority = 1 WHERE task_id IN (SELECT id FROM tasks WHERE priority = 1)")
    where = sa.text("priority > 0")
    op.create_index("ix_tasks_flagged", "tasks", ["due_sort", "created_at", "id", "org_unit_id"],
                    sqlite_where=where, postgresql_where=where)
    op.create_index("ix_task_candidates_flagged", "task_candidates",
                    ["role", "org_unit_id", "due_sort", "created_at", "task_id"],
                    sqlite_where=where, postgresql_where=where)


def downgrade() -> None:
    op.drop_index("ix_task_candidates_flagged", table_name="task_candidates")
    op.drop_index("ix_tasks_flagged", table_name="tasks")
    for table in ("task_candidates", "tasks", "cases"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("priority")
