"""process_drafts: processes being edited in the browser's modeler, saved on the server

Revision ID: 0026
Revises: 0025

A draft belongs to its author until it is deployed (the row goes) or discarded; `process_id` is null for a new
process, `base_version` the deployed version it was opened from (the diff's other side).
"""
import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "process_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=True),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_process_drafts_author", "process_drafts", ["author", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_process_drafts_author", table_name="process_drafts")
    op.drop_table("process_drafts")
