"""decision_drafts: decision tables being edited in the browser's table editor, saved on the server

Revision ID: 0035
Revises: 0034

As a process draft (0026): a draft belongs to its author until it is deployed (the row goes) or discarded;
`decision_id` is null for a new table (the id a deploy uses is the one in the XML), `base_version` the deployed
version it was opened from (the diff's other side).
"""
import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decision_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("decision_id", sa.String(length=200), nullable=True),
        sa.Column("base_version", sa.Integer(), nullable=True),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("xml", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_decision_drafts_author", "decision_drafts", ["author", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_decision_drafts_author", table_name="decision_drafts")
    op.drop_table("decision_drafts")
