"""cases.outcome_class: the outcome class of a closed case (化解 / 未化解 / 撤回 / 移送 / 不予受理)

Revision ID: 0020
Revises: 0019

Set when a case closes, from its end event's jiefen.outcome_class property; NULL for open cases and for cases
closed before the property existed.
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("outcome_class", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("outcome_class")
