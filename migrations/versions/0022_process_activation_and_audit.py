"""process versions: a change note, the active version per process, and an audit record of deploys and activations

Revision ID: 0022
Revises: 0021

New cases start on the active version (active_versions; the newest until an administrator activates another);
process_audit keeps who deployed or activated which version when, with the note. Existing databases: every
process's newest version becomes active and every stored version gets its `deployed` record.
"""
import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("process_versions", sa.Column("note", sa.Text(), nullable=True))
    op.create_table(
        "active_versions",
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("version_id", sa.Integer(), nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("activated_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["version_id"], ["process_versions.id"]),
        sa.PrimaryKeyConstraint("process_id"),
    )
    op.create_table(
        "process_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("process_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_process_audit_process_at", "process_audit", ["process_id", "at"])
    op.execute("""
        INSERT INTO active_versions (process_id, version_id, activated_at, activated_by)
        SELECT pv.process_id, pv.id, pv.deployed_at, pv.deployed_by FROM process_versions pv
        WHERE pv.version = (SELECT max(p2.version) FROM process_versions p2 WHERE p2.process_id = pv.process_id)""")
    op.execute("""
        INSERT INTO process_audit (at, actor, action, process_id, version)
        SELECT deployed_at, deployed_by, 'deployed', process_id, version FROM process_versions
        ORDER BY deployed_at, id""")


def downgrade() -> None:
    op.drop_index("ix_process_audit_process_at", table_name="process_audit")
    op.drop_table("process_audit")
    op.drop_table("active_versions")
    op.drop_column("process_versions", "note")
