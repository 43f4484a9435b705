"""db.send: a prebuilt Core statement straight through the driver, as SQLAlchemy would have executed it."""
from datetime import datetime, timezone

import pytest
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from engine.fastpath import _NotSendable, run_writes, send
from engine.models import NO_DUE_DATE, CaseModel, RoleModel, TaskModel
from engine.services import cases

ROLES, TASKS = RoleModel.__table__, TaskModel.__table__
_RENAME = update(ROLES).where(ROLES.c.name == bindparam("old")).values(title=bindparam("title"))
_RENAME_RETURNING = _RENAME.returning(ROLES.c.id)
_IDS_OF_TITLE = select(ROLES.c.id).where(ROLES.c.title == bindparam("title")).order_by(ROLES.c.id)
_NOT_BUILTIN = select(ROLES.c.id).where(ROLES.c.builtin == False, ROLES.c.name.like("s_%"))  # noqa: E712
_INSERT_TASKS = insert(TASKS).inline()
_TASKS_SENT = select(TASKS).where(TASKS.c.id.like("send-%"))
AT = datetime(2026, 3, 2, 1, 2, 3, 456000, tzinfo=timezone.utc)


def _add_roles(session, *names):
    session.execute(insert(ROLES), [{"name": n, "title": n.upper(), "builtin": False} for n in names])


def _task_row(case, task_id, due_at):
    return {"id": task_id, "kind": "bpmn", "source_task_id": None, "case_id": case.id, "process_id": case.process_id,
            "spec_name": "s", "title": "标题", "lane": None, "roles": ["mediator", "调解员"],
            "org_unit_id": case.org_unit_id, "assignee": None, "due_at": due_at, "due_basis": None,
            "warning_level": 0, "priority": 0, "created_at": AT, "claimed_at": None, "due_sort": due_at or NO_DUE_DATE}


def test_updates_give_their_row_count_and_returning_or_select_their_rows(session):
    _add_roles(session, "s_a", "s_b")
    connection = session.connection()
    assert send(connection, _RENAME, {"old": "s_a", "title": "T"}) == 1
    assert send(connection, _RENAME, {"old": "s_nobody", "title": "T"}) == 0
    [(role_id,)] = send(connection, _RENAME_RETURNING, {"old": "s_b", "title": "T"})
    assert send(connection, _IDS_OF_TITLE, {"title": "T"})[-1] == (role_id,)
    assert len(send(connection, _NOT_BUILTIN, {})) == 2  # the literal False, bound as SQLAlchemy binds it
    session.rollback()


def test_json_and_datetimes_go_through_the_column_types(session, actor):
    """An executemany INSERT of JSON and UTC datetimes: what the ORM reads back is what was sent."""
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    send(session.connection(), _INSERT_TASKS, [_task_row(case, "send-0", None), _task_row(case, "send-1", AT)])
    session.expire_all()
    rows = {t.id: t for t in session.scalars(select(TaskModel).where(TaskModel.id.like("send-%")))}
    sent_back = {row.id: row for row in send(session.connection(), _TASKS_SENT, {})}
    for task_id, row in rows.items():  # send's rows convert as the ORM does (SQLite keeps text, naive UTC)
        assert (sent_back[task_id].roles, sent_back[task_id].due_at, sent_back[task_id].created_at) == \
            (row.roles, row.due_at, row.created_at)
    assert rows["send-1"].roles == ["mediator", "调解员"]
    assert rows["send-1"].due_at == AT and rows["send-0"].due_at is None and rows["send-0"].created_at == AT
    assert rows["send-0"].due_sort == NO_DUE_DATE
    session.rollback()


def test_errors_are_sqlalchemys_and_name_the_statement(session):
    _add_roles(session, "s_taken")
    with pytest.raises(IntegrityError) as failed:
        send(session.connection(), insert(ROLES).values(builtin=False), {"name": "s_taken", "title": "again"})
    assert "INSERT INTO roles" in str(failed.value)
    session.rollback()


def test_a_missing_parameter_is_named(session):
    with pytest.raises(ValueError, match="'title'"):
        send(session.connection(), _RENAME, {"old": "s_a"})
    session.rollback()


def test_statements_that_need_sqlalchemy_are_refused_and_run_writes_lets_sqlalchemy_run_them(session, actor):
    """A column with a Python-side default (tasks.due_sort, roles.builtin) is filled in by SQLAlchemy's
    execution: send refuses such an INSERT, and run_writes hands it to the session's connection instead."""
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    row = _task_row(case, "send-default", AT)
    del row["due_sort"]
    with pytest.raises(_NotSendable, match="due_sort"):
        send(session.connection(), _INSERT_TASKS, [row])
    with pytest.raises(_NotSendable, match="label them"):  # rows are named tuples: their fields need names
        send(session.connection(), select(TASKS.c.id.label("task id")), {})
    assert run_writes(session, [(_INSERT_TASKS, [row]), (insert(ROLES).inline(), {"name": "s_d", "title": "D"})]) \
        == [None, None]
    assert session.get(TaskModel, "send-default").due_sort == AT
    assert session.scalar(select(RoleModel.builtin).where(RoleModel.name == "s_d")) is False
    session.rollback()


@pytest.mark.committed_db  # counts the SQL sent, where savepoint mode adds SAVEPOINT and RELEASE
def test_cursor_listeners_see_what_is_sent(session):
    sent = []
    listener = lambda conn, cursor, statement, params, context, many: sent.append((statement, many))  # noqa: E731
    event.listen(session.get_bind(), "before_cursor_execute", listener)
    try:
        send(session.connection(), _RENAME, {"old": "s_a", "title": "T"})
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", listener)
    assert len(sent) == 1 and sent[0][0].startswith("UPDATE roles SET title=") and sent[0][1] is False
    session.rollback()


def test_a_command_sends_its_writes_in_its_transaction(session, actor):
    """A rolled-back command leaves nothing behind: send runs inside the session's transaction."""
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    session.commit()
    send(session.connection(), _INSERT_TASKS, [_task_row(case, "send-rolled-back", AT)])
    session.rollback()
    assert session.get(TaskModel, "send-rolled-back") is None
    assert session.get(CaseModel, case.id) is not None


def test_a_lost_server_connection_is_invalidated_and_the_next_command_gets_a_new_one(session, lose_server_connection):
    from sqlalchemy.exc import DBAPIError

    pid = lose_server_connection()
    with pytest.raises(DBAPIError) as lost:
        send(session.connection(), _IDS_OF_TITLE, {"title": "T"})
    assert lost.value.connection_invalidated
    session.rollback()
    assert send(session.connection(), _IDS_OF_TITLE, {"title": "nobody"}) == []
    assert session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid
    session.rollback()
