"""decision table drafts handed over as process drafts are (0030): a designer submits a table draft for
deployment (提交审核), an administrator deploys or returns it with a note

Revision ID: 0037
Revises: 0036
"""
import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decision_drafts") as batch:
        batch.add_column(sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("submit_note", sa.Text(), nullable=True))
        batch.add_column(sa.Column("returned_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("returned_by", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("return_note", sa.Text(), nullable=True))
    op.create_index("ix_decision_drafts_submitted", "decision_drafts", ["submitted_at"])


def downgrade() -> None:
    op.drop_index("ix_decision_drafts_submitted", table_name="decision_drafts")
    with op.batch_alter_table("decision_drafts") as batch:
        for column in ("return_note", "returned_by", "returned_at", "submit_note", "submitted_at"):
            batch.drop_column(column)
