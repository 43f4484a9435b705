"""calendar_notices: a year's State Council notice and the center's closures, entered in the administration console

Revision ID: 0028
Revises: 0027

Layered over config/calendar.toml (the seed) and the computed statutory days; `version` grows on every save so
each process notices a change with one small SELECT (services/calendar_admin.py).
"""
import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_notices",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("workdays", sa.JSON(), nullable=False),
        sa.Column("closures", sa.JSON(), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("saved_by", sa.String(length=64), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("year"),
    )
    op.create_index("ix_calendar_notices_version", "calendar_notices", ["version"])


def downgrade() -> None:
    op.drop_index("ix_calendar_notices_version", table_name="calendar_notices")
    op.drop_table("calendar_notices")
