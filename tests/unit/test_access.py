"""engine/access.py: the read rule's grants and their cost, confidential processes, the access log, masking."""
from __future__ import annotations

import pytest
from sqlalchemy import event, select

from engine import access, runtime
from engine.errors import Forbidden
from engine.models import AccessLogModel
from engine.services import cases, history, processes, tasks
from tests.support import PASSWORD

REGISTER = {"channel": "walk_in", "party_name": "李四", "party_phone": "13900001234", "handling_dept": "mediator"}


def registered(session, actor, **data):
    """A county case of small_mediation, registered: waiting at 调解 for `handling_dept`."""
    case = cases.start_case(session, "small_mediation", {}, actor("clerk"))
    intake = cases.open_tasks(session, case.id)[0]
    tasks.complete_task(session, intake.id, {**REGISTER, **data}, actor("clerk"))
    return session.get(type(case), case.id)


def readable(session, actor, name, case) -> bool:
    try:
        cases.ensure_can_read(session, actor(name), case)
        return True
    except Forbidden:
        return False


@pytest.fixture
def statements(session):
    """statements() -> the SQL sent on the session's engine since the fixture started."""
    sent: list[str] = []

    def listener(_conn, _cursor, statement, *_args):
        sent.append(statement)

    event.listen(session.get_bind(), "before_cursor_execute", listener)
    yield lambda: list(sent)
    event.remove(session.get_bind(), "before_cursor_execute", listener)


@pytest.mark.committed_db  # counts the SQL sent, where savepoint mode adds SAVEPOINT and RELEASE
def test_a_grant_decides_without_a_query_and_involvement_costs_one(session, actor, statements):
    case = registered(session, actor)
    processes.load_version(session, case.process_version_id)  # the spec cache, as on any server after a read
    readers = {name: actor(name) for name in ("mediator1", "super", "auditor", "head", "township_mediator")}
    session.commit()
    for name in ("mediator1", "super"):  # the process's role at the case's unit; supervisor above it
        before = len(statements())
        access.ensure_can_read(session, readers[name], case)
        assert len(statements()) == before, name
    for name in ("head", "township_mediator"):  # neither: one statement says they are not involved
        before = len(statements())
        with pytest.raises(Forbidden):
            access.ensure_can_read(session, readers[name], case)
        assert len(statements()) == before + 1, (name, statements()[before:])


def test_resident_departments_read_only_what_is_routed_to_them(session, actor):
    to_labour = registered(session, actor, handling_dept="dept_hrss")
    to_mediators = registered(session, actor, handling_dept="mediator")
    assert readable(session, actor, "labour", to_labour)
    assert not readable(session, actor, "labour", to_mediators)  # dept_hrss is a role of the process, at the county
    assert readable(session, actor, "mediator1", to_mediators) and readable(session, actor, "mediator1", to_labour)
    # after acting on it the department still reads the case (its history has the labour officer's events)
    [mediate] = cases.open_tasks(session, to_labour.id)
    tasks.complete_task(session, mediate.id, {"result": "agreed"}, actor("labour"))
    session.expire_all()
    assert cases.get_case(session, to_labour.id, actor("labour")).status == "closed"


def test_confidential_processes_are_read_by_their_roles_supervisors_and_auditors_only(session, actor, rt,
                                                                                      statements, directory):
    case = registered(session, actor, handling_dept="dept_hrss")
    assert readable(session, actor, "admin", case)
    rt.settings.confidential_processes = frozenset({"small_mediation"})
    session.rollback()  # decisions are per transaction
    assert {name for name in ("admin", "auditor", "super", "mediator1", "labour", "head", "township_mediator")
            if readable(session, actor, name, case)} == {"auditor", "super", "mediator1", "labour"}
    # holding none of the process's roles: small_mediation picks its mediators by an expression naming an enum
    # field (=handling_dept), whose options are all the roles it can pick: refused without a statement, as a
    # process with literal candidates is (test below) — unless the role is one the engine's own follow-up tasks
    # go to (the unit head answers a 督办单 on any process): then it reads the case only while it holds one
    directory.ensure_roles(session, {"archivist": "档案员"})
    directory.create_user(session, "archivist", PASSWORD, ["archivist"])
    archivist, head = actor("archivist"), actor("head")
    session.rollback()
    session.refresh(case)
    assert case.org_unit.path
    before = len(statements())
    with pytest.raises(Forbidden):
        access.ensure_can_read(session, archivist, case)
    assert len(statements()) == before
    with pytest.raises(Forbidden):
        access.ensure_can_read(session, head, case)  # a follow-up role holding none of its tasks: refused
    # the administrator's list of all tasks leaves the case out; the auditor's has it
    assert [t.case_id for t in tasks.list_tasks(session, actor("auditor"), scope="all").items] == [case.id]
    assert tasks.list_tasks(session, actor("admin"), scope="all").items == []


def test_an_auditor_read_is_recorded_in_a_transaction_of_its_own(session, actor, db_engine):
    case = registered(session, actor)
    auditor = actor("auditor")
    session.commit()
    history.verify_case(session, case.id, auditor)  # reads the case and its events: one read, one record
    cases.get_case(session, case.id, auditor)  # the same transaction: not again
    assert session.in_transaction() and not session.new and not session.dirty  # the read has not committed
    with db_engine.connect() as other:  # committed on its own, visible at once
        rows = other.execute(select(AccessLogModel.username, AccessLogModel.case_id, AccessLogModel.what,
                                    AccessLogModel.basis)).all()
    assert rows == [("auditor", case.id, "verify", "auditor")]
    session.rollback()  # the read's end does not take the record with it
    history.list_events(session, case.id, auditor)  # a new transaction, a new read
    # a command is a permission check, not a read: nothing recorded (and the auditor cannot claim)
    with pytest.raises(Forbidden):
        tasks.claim_task(session, cases.open_tasks(session, case.id)[0].id, auditor)
    session.rollback()
    cases.get_case(session, case.id, actor("mediator1"))  # a handler's read is not recorded
    assert session.scalars(select(AccessLogModel.what).order_by(AccessLogModel.id)).all() == ["verify", "events"]


def test_handlers_see_numbers_whole_and_others_masked(session, actor):
    case = registered(session, actor)
    shown = {name: access.masker(session, actor(name), case)(case.data)["party_phone"]
             for name in ("clerk", "mediator1", "super", "auditor", "admin")}
    assert shown == {"clerk": "13900001234", "mediator1": "13900001234", "super": "139****1234",
                     "auditor": "139****1234", "admin": "139****1234"}
    assert case.data["party_phone"] == "13900001234"  # masking copies, never changes the case


def test_process_roles_leave_out_the_processes_it_calls(session, rt):
    from tests.conftest import ROOT
    from engine.services.users import SYSTEM

    processes.deploy(session, processes.read_directory(ROOT / "processes"), SYSTEM)
    roles = {pid: access.process_roles(processes.active_loaded_version(session, pid), runtime.of(session))
             for pid in ("dispute", "petition_revisit", "judicial_confirmation")}
    assert "judge" in roles["judicial_confirmation"]
    assert not {"judge", "court_clerk", "enforcement"} & (roles["dispute"] | roles["petition_revisit"])
    assert {"intake_clerk", "screener", "dept_police", "dept_court"} <= roles["dispute"]
    assert {"petition_office", "competent_body", "review_body"} <= roles["petition_revisit"]
    # a petition may be routed to the court (its judicial confirmation): those roles pass the confidential gate;
    # 涉法涉诉 goes to the political-legal organ its forwarding picks (=political_legal_role, an enum field: its
    # options are the roles, so they are known too)
    routed = access.routed_roles(processes.active_loaded_version(session, "petition_revisit"), runtime.of(session))
    assert {"judge", "court_clerk", "dept_court", "dept_procuratorate", "dept_police", "dept_justice"} <= routed
    assert access.routed_roles(processes.active_loaded_version(session, "dispute"), runtime.of(session)) is None  # =mediation_roles


def test_a_confidential_case_refuses_other_roles_without_a_query(session, directory, actor, statements):
    from tests.conftest import ROOT
    from engine.services.users import SYSTEM

    processes.deploy(session, processes.read_directory(ROOT / "processes"), SYSTEM)
    users = directory
    # 工会: a department no petition task nor any follow-up task (config/org.toml) is routed to
    users.ensure_roles(session, {"petition_office": "信访", "dept_union": "工会"})
    session.commit()
    users.create_user(session, "petition", PASSWORD, ["petition_office"])
    users.create_user(session, "police", PASSWORD, ["dept_union"])
    case = cases.start_case(session, "petition_revisit", {}, actor("petition"))
    police = actor("police")
    session.commit()
    session.refresh(case)
    assert case.org_unit.path and processes.load_version(session, case.process_version_id)
    before = len(statements())
    with pytest.raises(Forbidden):
        access.ensure_can_read(session, police, case)
    assert len(statements()) == before


@pytest.mark.parametrize("value, masked", [
    ("13812345678", "138****5678"),
    ("138 1234 5678", "138****5678"),
    ("+86 138-1234-5678", "+86 138****5678"),
    ("0571-88881234", "057*****1234"),
    ("", ""),
])
def test_mask_phone(value, masked):
    assert access.mask_data(value, "party_phone") == masked


@pytest.mark.parametrize("text, masked", [
    ("对方电话139-1234-5678，座机0571-88881234", "对方电话139****5678，座机057*****1234"),
    ("身份证330106199001011234，旧证330106900101123", "身份证330106********1234，旧证330106*****1123"),
    ("身份证号33010619900101123X。", "身份证号330106********123X。"),
    ("案件编号3301061020260000019，金额88000元，2026-03-02", "案件编号3301061020260000019，金额88000元，2026-03-02"),
    ("邻里噪音纠纷", "邻里噪音纠纷"),
])
def test_mask_text_finds_numbers_in_free_text(text, masked):
    assert access.mask_data({"summary": text}) == {"summary": masked}


def test_mask_data_by_key_and_nested_payloads():
    payload = {"command": {"data": {"party_phone": "13900000000", "id_card_no": "330106199001011234",
                                    "channel": "phone", "people_involved": 2}},
               "changes": {"party_phone": [None, "13900000000"]}}
    assert access.mask_data(payload) == {
        "command": {"data": {"party_phone": "139****0000", "id_card_no": "330106********1234", "channel": "phone",
                             "people_involved": 2}},
        "changes": {"party_phone": [None, "139****0000"]}}
    assert payload["changes"]["party_phone"][1] == "13900000000"
