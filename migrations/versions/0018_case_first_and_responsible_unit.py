"""cases.first_unit_id / responsible_unit_id: the unit that registered a case (首问负责) and the center that
handed it down (交办) stay known after the case moves

Revision ID: 0018
Revises: 0017

Both nullable: a case registered before keeps NULL (its first unit is read as its current one), and a case
not handed down has no responsible center other than its own unit.
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("first_unit_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("responsible_unit_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_cases_first_unit_id_org_units", "org_units", ["first_unit_id"], ["id"])
        batch.create_foreign_key("fk_cases_responsible_unit_id_org_units", "org_units", ["responsible_unit_id"],
                                 ["id"])


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("fk_cases_responsible_unit_id_org_units", type_="foreignkey")
        batch.drop_constraint("fk_cases_first_unit_id_org_units", type_="foreignkey")
        batch.drop_column("responsible_unit_id")
        batch.drop_column("first_unit_id")
