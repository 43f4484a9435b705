"""process drafts handed over: a designer submits a draft for deployment (提交审核), an administrator deploys or
returns it with a note

Revision ID: 0030
Revises: 0029
"""
import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("process_drafts") as batch:
        batch.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("submit_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("returned_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("return_note", sa.Text(), nullable=True))
    op.create_index("ix_process_drafts_submitted", "process_drafts", ["submitted_at"])


def downgrade() -> None:
    op.drop_index("ix_process_drafts_submitted", table_name="process_drafts")
    with op.batch_alter_table("process_drafts") as batch:
        for column in ("return_note", "returned_by", "returned_at", "submit_note", "submitted_at"):
            batch.drop_column(column)
