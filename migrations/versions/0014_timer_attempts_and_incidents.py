"""timers: attempts, back-off and incident columns; incidents: timers that kept failing

Revision ID: 0014
Revises: 0013

A timer whose command fails is tried again with back-off (timers.attempts, retry_at, last_error) and after
the configured number of attempts becomes an incident (timers.incident, one incidents row): no drain takes
it again until an operator retries or resolves it (security.md M3). Added columns are nullable or have a
server default, so SQLite adds them without rebuilding the table.
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("timers") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("incident", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_table(
        "incidents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("timer_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("element_id", sa.String(length=200), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_by", sa.String(length=64), nullable=True),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_incidents_case_id", "incidents", ["case_id"], unique=False)
    op.create_index("ix_incidents_open", "incidents", ["resolved_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_incidents_open", table_name="incidents")
    op.drop_index("ix_incidents_case_id", table_name="incidents")
    op.drop_table("incidents")
    with op.batch_alter_table("timers") as batch:
        batch.drop_column("incident")
        batch.drop_column("last_error")
        batch.drop_column("retry_at")
        batch.drop_column("attempts")
