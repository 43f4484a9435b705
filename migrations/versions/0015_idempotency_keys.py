"""idempotency_keys: the Idempotency-Key of each write request, per user (webui/idempotency.py)

Revision ID: 0015
Revises: 0014

A key row is written in the transaction of the request's command, so a command that committed has its key
even when its response never reached the client; a retry with the key then gets the first response (stored
after the commit) or an honest "already done" instead of acting twice. Rows older than 24 hours are purged.
"""
import sqlalchemy as sa
from alembic import op


revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("case_ids", sa.String(200), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response_headers", sa.JSON(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("username", "idempotency_key"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
