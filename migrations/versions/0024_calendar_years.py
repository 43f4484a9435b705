"""calendar_years: the calendar data each year's deadlines were computed under (a digest), and its claim

Revision ID: 0024
Revises: 0023

The scheduler compares each watched year's digest of config/calendar.toml with this row on start and on every
tick; a changed year is claimed here (one process of several) and its open deadlines are recomputed once
(services/deadlines.recompute_changed_years). A year seen for the first time is stored without a recompute.
"""
import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calendar_years",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recomputed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("year"),
    )


def downgrade() -> None:
    op.drop_table("calendar_years")
