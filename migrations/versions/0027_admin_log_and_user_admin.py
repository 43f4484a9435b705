"""the admin log (a hash-chained record of every administrative act) and what the user console needs

Revision ID: 0027
Revises: 0026

admin_events: append-only, one SHA-256 chain over the table (seq without gaps, prev_hash -> hash).
users: a work phone, the must-change-password flag an administrator's reset sets, the last login.
"""
import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target_type", sa.String(length=20), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("old", sa.JSON(), nullable=True),
        sa.Column("new", sa.JSON(), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("seq"),
    )
    op.create_index("ix_admin_events_at", "admin_events", ["at"])
    op.create_index("ix_admin_events_target", "admin_events", ["target_type", "target"])
    op.create_index("ix_admin_events_actor", "admin_events", ["actor"])
    op.create_index("ix_admin_events_action", "admin_events", ["action"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("phone", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False,
                                   server_default=sa.text("false")))
        batch.add_column(sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("last_login_at")
        batch.drop_column("must_change_password")
        batch.drop_column("phone")
    op.drop_index("ix_admin_events_action", table_name="admin_events")
    op.drop_index("ix_admin_events_actor", table_name="admin_events")
    op.drop_index("ix_admin_events_target", table_name="admin_events")
    op.drop_index("ix_admin_events_at", table_name="admin_events")
    op.drop_table("admin_events")
