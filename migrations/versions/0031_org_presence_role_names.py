"""org units: presence as ids and a 轮驻 department's rota days; roles: Chinese and English names an administrator
may edit (issue 20 §2)

Revision ID: 0031
Revises: 0029
"""
import sqlalchemy as sa
from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

_PRESENCE = {"常驻": "resident", "轮驻": "rota", "随驻": "on_call"}


def upgrade() -> None:
    with op.batch_alter_table("org_units") as batch:
        batch.add_column(sa.Column("rota_days", sa.String(length=20), nullable=True))
    with op.batch_alter_table("roles") as batch:
        batch.add_column(sa.Column("name_zh", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("name_en", sa.String(length=200), nullable=True))
    units = sa.table("org_units", sa.column("presence", sa.String))
    for old, new in _PRESENCE.items():
        op.execute(units.update().where(units.c.presence == old).values(presence=new))


def downgrade() -> None:
    units = sa.table("org_units", sa.column("presence", sa.String))
    for old, new in _PRESENCE.items():
        op.execute(units.update().where(units.c.presence == new).values(presence=old))
    with op.batch_alter_table("roles") as batch:
        batch.drop_column("name_en")
        batch.drop_column("name_zh")
    with op.batch_alter_table("org_units") as batch:
        batch.drop_column("rota_days")
