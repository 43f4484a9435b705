"""admin_log_head: the seq and hash of the admin log's last row, written with every append, so that verifying the
log notices its last rows deleted (the chain alone holds together when its tail is cut off)

Revision ID: 0038
Revises: 0037
"""
import sqlalchemy as sa
from alembic import op

revision = "0038"
down_revision = "0037"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("admin_log_head",
                    sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("seq", sa.Integer(), nullable=False),
                    sa.Column("hash", sa.String(length=64), nullable=False))
    # the log as it stands is the head's start: what was cut off before this cannot be known now
    op.execute("INSERT INTO admin_log_head (id, seq, hash) SELECT 1, seq, hash FROM admin_events "
               "WHERE seq = (SELECT MAX(seq) FROM admin_events)")


def downgrade() -> None:
    op.drop_table("admin_log_head")
