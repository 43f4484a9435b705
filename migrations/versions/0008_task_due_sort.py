"""tasks carry their "due" sort key (due_sort); indexes in list order for the supervised and all lists

Revision ID: 0008
Revises: 0007

The supervised and all lists sorted every matching open task to show one page (200 ms for a county
supervisor at 1,000,000 cases, bench/README.md). Walking an index in list order stops at the page instead;
the "due" order is coalesce(due_at, 9999-12-31), which no index on due_at serves, so it becomes a column.
One bulk UPDATE fills it; it stays nullable so that SQLite adds it without rebuilding the table.
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

NO_DUE_DATE = "9999-12-31 00:00:00.000000"  # as SQLAlchemy stores engine.models.NO_DUE_DATE on SQLite


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("due_sort", sa.DateTime(timezone=True), nullable=True))
    no_due = "TIMESTAMPTZ '9999-12-31 00:00:00+00'" if op.get_bind().dialect.name == "postgresql" \
        else f"'{NO_DUE_DATE}'"
    op.execute(f"UPDATE tasks SET due_sort = COALESCE(due_at, {no_due})")
    # Each ends with the unit: a supervisor's walk checks "my unit and below" on the index entry.
    op.create_index("ix_tasks_due_sort", "tasks", ["due_sort", "created_at", "id", "org_unit_id"])
    op.create_index("ix_tasks_created", "tasks", ["created_at", "id", "org_unit_id"])
    op.create_index("ix_tasks_warning", "tasks", ["warning_level", "due_sort", "id", "org_unit_id"])


def downgrade() -> None:
    op.drop_index("ix_tasks_warning", table_name="tasks")
    op.drop_index("ix_tasks_created", table_name="tasks")
    op.drop_index("ix_tasks_due_sort", table_name="tasks")
    # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35+), not a batch rebuild: with foreign keys on, dropping
    # the old tasks table would cascade to (or fail on) every task_candidates row.
    op.drop_column("tasks", "due_sort")
