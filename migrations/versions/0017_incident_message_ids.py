"""incidents.message_id / message_params: an incident's message by id, so each reader sees it in their language

Revision ID: 0017
Revises: 0016

Engine messages carry an id and parameters (engine/messages.py); the incident row kept only the English text.
Both columns are nullable: rows recorded before, and failures that were not engine errors, keep their text.
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("message_id", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("message_params", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("message_params")
        batch.drop_column("message_id")
