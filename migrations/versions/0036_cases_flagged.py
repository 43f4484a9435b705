"""ix_cases_flagged: the 群体性 / 高风险 cases (priority > 0) by opening, for the ledger's flagged-first part and
its high_risk filter (issue 18 §1)

Revision ID: 0036
Revises: 0035
"""
import sqlalchemy as sa
from alembic import op

revision = "0036"
down_revision = "0035"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_cases_flagged", "cases", ["opened_at", "id"], sqlite_where=sa.text("priority > 0"),
                    postgresql_where=sa.text("priority > 0"))


def downgrade() -> None:
    op.drop_index("ix_cases_flagged", table_name="cases")
