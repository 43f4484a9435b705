"""task_candidates carry their task's sort keys, indexed per (role, org unit) for the task list

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NO_DUE_DATE = "9999-12-31 00:00:00"


def upgrade() -> None:
    with op.batch_alter_table("task_candidates") as batch:
        batch.add_column(sa.Column("due_sort", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("warning_level", sa.Integer(), nullable=False, server_default="0"))
    no_due = "TIMESTAMPTZ '9999-12-31 00:00:00+00'" if op.get_bind().dialect.name == "postgresql" \
        else f"'{NO_DUE_DATE}'"
    op.execute(f"""
        UPDATE task_candidates SET
          due_sort = COALESCE((SELECT t.due_at FROM tasks t WHERE t.id = task_candidates.task_id), {no_due}),
          created_at = (SELECT t.created_at FROM tasks t WHERE t.id = task_candidates.task_id),
          warning_level = (SELECT t.warning_level FROM tasks t WHERE t.id = task_candidates.task_id)
    """)
    with op.batch_alter_table("task_candidates") as batch:
        batch.alter_column("due_sort", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.alter_column("created_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch.drop_index("ix_task_candidates_role_org")
        batch.create_index("ix_task_candidates_due", ["role", "org_unit_id", "due_sort", "created_at", "task_id"])
        batch.create_index("ix_task_candidates_created", ["role", "org_unit_id", "created_at", "task_id"])
        batch.create_index("ix_task_candidates_warning", ["role", "org_unit_id", "warning_level", "due_sort", "task_id"])


def downgrade() -> None:
    with op.batch_alter_table("task_candidates") as batch:
        batch.drop_index("ix_task_candidates_warning")
        batch.drop_index("ix_task_candidates_created")
        batch.drop_index("ix_task_candidates_due")
        batch.create_index("ix_task_candidates_role_org", ["role", "org_unit_id"])
        batch.drop_column("warning_level")
        batch.drop_column("created_at")
        batch.drop_column("due_sort")
