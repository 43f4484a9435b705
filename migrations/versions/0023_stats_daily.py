"""stats_daily: the statistics' daily counters; cases.responded_at / late_at; cases.due_at; ix_cases_opened (the ledger)

Revision ID: 0023
Revises: 0022

engine/stats.py keeps stats_daily in each command's transaction. Cases opened before this revision have no
counts until `jiefen stats rebuild` recounts them from their history (it also sets responded_at and late_at).
"""
import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

COUNTERS = ("received", "closed", "closed_on_time", "resolved", "responded", "responded_on_time", "rated",
            "rated_satisfied", "rated_basically", "rated_dissatisfied", "prompts", "reminders", "notices", "listings")


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("late_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE cases SET due_at = (SELECT min(t.due_at) FROM tasks t WHERE t.case_id = cases.id "
               "AND t.kind = 'bpmn') WHERE status = 'open'")
    op.create_index("ix_cases_open_due", "cases", ["status", "org_unit_id", "due_at", "category", "channel",
                                                   "process_id"])
    op.create_table(
        "stats_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("org_unit_id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS[:4]],
        sa.Column("handling_seconds", sa.BigInteger(), nullable=False),
        *[sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS[4:]],
        *[sa.Column(name, sa.Integer(), nullable=False) for name in ("tasks_opened", "tasks_completed",
                                                                    "tasks_completed_on_time")],
        sa.Column("task_handling_seconds", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("day", "org_unit_id", "process_id", "category", "channel"),
    )
    op.create_index("ix_stats_daily_unit_day", "stats_daily", ["org_unit_id", "day"])
    op.create_index("ix_cases_opened", "cases", ["opened_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_cases_opened", table_name="cases")
    op.drop_index("ix_cases_open_due", table_name="cases")
    op.drop_index("ix_stats_daily_unit_day", table_name="stats_daily")
    op.drop_table("stats_daily")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("due_at")
        batch.drop_column("late_at")
        batch.drop_column("responded_at")
