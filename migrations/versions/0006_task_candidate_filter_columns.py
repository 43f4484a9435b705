"""task_candidates carry copies of what the task list filters on: assignee, process, category, case code, title

Revision ID: 0006
Revises: 0005

One bulk UPDATE fills them from tasks and cases (no loop over rows in Python): on PostgreSQL an
UPDATE … FROM the join, on SQLite correlated subqueries (its UPDATE … FROM needs SQLite 3.33; the
subqueries run on every version and use the primary keys). The columns stay nullable, so that SQLite
adds them without rebuilding the table.
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = (("assignee", sa.String(64)), ("process_id", sa.String(200)), ("category", sa.String(100)),
           ("case_code", sa.String(40)), ("title", sa.String(300)))


def upgrade() -> None:
    with op.batch_alter_table("task_candidates") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            UPDATE task_candidates AS c SET
              assignee = t.assignee, process_id = t.process_id, title = t.title,
              category = k.category, case_code = k.code
            FROM tasks AS t JOIN cases AS k ON k.id = t.case_id
            WHERE t.id = c.task_id
        """)
    else:
        op.execute("""
            UPDATE task_candidates SET
              assignee = (SELECT t.assignee FROM tasks t WHERE t.id = task_candidates.task_id),
              process_id = (SELECT t.process_id FROM tasks t WHERE t.id = task_candidates.task_id),
              title = (SELECT t.title FROM tasks t WHERE t.id = task_candidates.task_id),
              category = (SELECT k.category FROM tasks t JOIN cases k ON k.id = t.case_id
                          WHERE t.id = task_candidates.task_id),
              case_code = (SELECT k.code FROM tasks t JOIN cases k ON k.id = t.case_id
                           WHERE t.id = task_candidates.task_id)
        """)


def downgrade() -> None:
    with op.batch_alter_table("task_candidates") as batch:
        for name, _type in reversed(COLUMNS):
            batch.drop_column(name)
