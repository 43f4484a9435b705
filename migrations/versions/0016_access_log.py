"""access_log: every case read granted by a read-all role (auditor, administrator)

Revision ID: 0016
Revises: 0015

Need to know (issue 15 §7): auditors and administrators read cases they do not handle, so each such read is
recorded — who, which case, what (case, events, verify, diagram, receipt, task), when, on what grant. The rows
are written in a transaction of their own, so a read stays one transaction. No foreign key to cases: the record
of a read outlives the case row.
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("what", sa.String(length=20), nullable=False),
        sa.Column("basis", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_access_log_case_at", "access_log", ["case_id", "at"], unique=False)
    op.create_index("ix_access_log_username_at", "access_log", ["username", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_access_log_username_at", table_name="access_log")
    op.drop_index("ix_access_log_case_at", table_name="access_log")
    op.drop_table("access_log")
