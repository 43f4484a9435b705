"""The demo center: a scripted story of a working center over the last two months, loaded through the
processes' own forms; plausible values, no date after today, every path and outcome, a few cases late at each
ladder step; idempotent; a step the processes refuse fails loudly; demo password gated."""
import re
from datetime import date

import pytest
from sqlalchemy import func, select

from engine import demo, versions
from engine.clock import CHINA_TZ
from engine.demo import DEMO_PASSWORD, DEMO_USERS, DemoError, Scenario, load_demo
from engine.errors import AuthenticationFailed
from engine.models import CaseEventModel, CaseModel, OrgUnitModel, ProcessVersionModel, TaskModel, UserModel
from engine.services import users
from tests.conftest import ROOT

PROCESSES = str(ROOT / "processes")
PARTIES_WINDOW = {"申请执行期间届满"}  # two years after the ruling: no two-month story reaches it


@pytest.fixture
def loaded(session, rt):
    summary = load_demo(session, PROCESSES)
    assert summary.startswith("demo loaded"), summary
    return session


def _end_event_names(process_file: str) -> set[str]:
    text = (ROOT / "processes" / process_file).read_text(encoding="utf-8")
    return set(re.findall(r'<bpmn:endEvent id="[^"]*" name="([^"]+)"', text))


def test_every_process_has_open_cases_and_closed_ones_with_every_outcome(loaded):
    session = loaded
    rows = session.execute(select(CaseModel.process_id, CaseModel.status, CaseModel.outcome)).all()
    for process in ("dispute", "petition_revisit", "judicial_confirmation"):
        statuses = {status for pid, status, _ in rows if pid == process}
        assert statuses == {"open", "closed"}, process
        outcomes = {outcome for pid, status, outcome in rows if pid == process and status == "closed"}
        missing = _end_event_names(f"{process}.bpmn") - outcomes - PARTIES_WINDOW
        assert not missing, f"{process}: no demo case ends as {missing}"
    assert session.scalar(select(func.count()).select_from(UserModel)) == len(DEMO_USERS)


def test_no_date_after_today_and_values_that_fit_their_fields(loaded, rt):
    session = loaded
    today = rt.clock.now().astimezone(CHINA_TZ).date()
    date_fields, seen_cases = {}, 0
    for case in session.scalars(select(CaseModel)):
        version = versions.load_version(session, case.process_version_id)
        if case.process_version_id not in date_fields:
            date_fields[case.process_version_id] = {
                f["id"] for task in version.meta["user_tasks"].values() for f in task.get("form", [])
                if f["type"].lower() == "date" and not f["id"].endswith("deadline")}  # 交办期限: a deadline
        data = case.data or {}
        for key in date_fields[case.process_version_id] & set(data):
            if data[key]:
                assert date.fromisoformat(str(data[key])[:10]) <= today, (case.code, key, data[key])
        assert case.opened_at.astimezone(CHINA_TZ).date() <= today
        if case.process_id == "dispute" and "first_officer" in data:
            seen_cases += 1
            assert re.fullmatch(r"[\u4e00-\u9fff]{2,4}", data["first_officer"]), data["first_officer"]
            assert data["received_date"] == case.opened_at.astimezone(CHINA_TZ).date().isoformat()  # the day they came
            assert bool(data.get("referral_no")) == (data["channel"] in demo.REFERRALS)  # a 文号 only for referrals
        if "party_phone" in data:
            assert re.fullmatch(r"1[3-9]\d{9}", data["party_phone"]), data["party_phone"]
        if "summary" in data:
            assert len(data["summary"]) >= 15 and data["summary"] != data.get("first_officer")
    assert seen_cases >= 20
    categories = set(session.scalars(select(CaseModel.category).where(CaseModel.process_id == "dispute")))
    assert len(categories) >= 6  # each story its own kind of dispute, not the form's first option
    # the history carries what the forms said: the facts entered there are dated by the day they were done
    checked = 0
    for payload in session.scalars(select(CaseEventModel.payload).where(CaseEventModel.type == "task_completed")):
        for key, value in _items(payload):
            if key in FACT_DATES and isinstance(value, str) and value:
                assert value[:10] <= today.isoformat(), (key, value)
                checked += 1
    assert checked >= 20


FACT_DATES = {"received_date", "feedback_date", "agreement_date", "reply_date", "reply_served_date", "accept_date",
              "jc_ruling_date", "jc_served_date", "jc_accept_date", "forward_date", "court_filing_date"}


def _items(value):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield key, inner
            yield from _items(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _items(inner)


def test_cases_at_every_level_交办_and_上报(loaded):
    session = loaded
    kinds = set(session.scalars(select(OrgUnitModel.kind).join(CaseModel, CaseModel.org_unit_id == OrgUnitModel.id)))
    assert {"county", "township", "village"} <= kinds
    events = set(session.scalars(select(CaseEventModel.type)))
    assert {"case_assigned", "case_moved"} <= events  # handed down (交办), reported up (上报)
    city = session.scalar(select(OrgUnitModel).where(OrgUnitModel.kind == "city"))
    assert session.scalar(select(func.count()).select_from(TaskModel).where(
        TaskModel.spec_name == "accept_escalation")) >= 1 and city is not None


def test_a_few_late_on_purpose_at_each_ladder_step(loaded):
    session = loaded
    levels = set(session.scalars(select(TaskModel.warning_level).where(TaskModel.kind == "bpmn")))
    assert {1, 2, 3, 4} <= levels
    follow_ups = session.scalar(select(func.count()).select_from(TaskModel).where(TaskModel.kind == "supervision"))
    assert 1 <= follow_ups <= 10
    kinds = list(session.scalars(select(CaseEventModel.type).where(CaseEventModel.type.like("supervision_%"))))
    assert "supervision_answered" in kinds and "supervision_closed" in kinds  # one 督办单 answered and 销号
    assert session.scalar(select(func.count()).select_from(TaskModel).where(
        TaskModel.spec_name == "supervision_notice_review")) == 1  # one answer awaiting 销号
    # not the pile of a random walk: most open work is on time
    open_bpmn = session.scalar(select(func.count()).select_from(TaskModel).where(TaskModel.kind == "bpmn"))
    late = session.scalar(select(func.count()).select_from(TaskModel).where(
        TaskModel.kind == "bpmn", TaskModel.warning_level >= 2))
    assert late <= 5 < open_bpmn


def test_a_second_run_adds_nothing(loaded):
    session = loaded
    counts = [session.scalar(select(func.count()).select_from(model))
              for model in (CaseModel, TaskModel, CaseEventModel, UserModel, ProcessVersionModel)]
    again = load_demo(session, PROCESSES)
    assert again.startswith("demo already loaded") and "v2" not in again
    assert [session.scalar(select(func.count()).select_from(model))
            for model in (CaseModel, TaskModel, CaseEventModel, UserModel, ProcessVersionModel)] == counts


def test_a_field_gone_from_a_form_is_named(session, rt, monkeypatch):
    story = Scenario("x-gone", "dispute", "clerk", "noise", 3, {"register": {"party_address": "曙光路12号"}},
                     stop="screen")
    monkeypatch.setattr(demo, "SCENARIOS", [story])
    monkeypatch.setattr(demo, "LADDER_SCENARIOS", [])
    with pytest.raises(DemoError, match="x-gone.*register.*party_address"):
        load_demo(session, PROCESSES)


def test_a_step_the_process_refuses_fails_loudly(session, rt, monkeypatch):
    story = Scenario("x-refused", "dispute", "clerk", "noise", 3,
                     {"screen": {"tier": "gigantic", "mediation_consent": "agree"}}, stop="dispatch")
    monkeypatch.setattr(demo, "SCENARIOS", [story])
    monkeypatch.setattr(demo, "LADDER_SCENARIOS", [])
    with pytest.raises(DemoError, match="x-refused: screen .*refused.*tier"):
        load_demo(session, PROCESSES)


def test_a_case_that_does_not_end_as_its_story_says_fails(session, rt, monkeypatch):
    story = Scenario("x-open", "dispute", "clerk", "noise", 3, {}, stop="screen", outcome="已化解")
    monkeypatch.setattr(demo, "SCENARIOS", [story])
    monkeypatch.setattr(demo, "LADDER_SCENARIOS", [])
    with pytest.raises(DemoError, match="x-open: meant to end as 已化解"):
        load_demo(session, PROCESSES)


def test_demo_password_only_in_demo_mode(session, rt):
    users.init_directory(session, "330106000", "西湖区综治中心", "330106")
    users.create_user(session, "clerk", DEMO_PASSWORD, ["auditor"])
    with pytest.raises(AuthenticationFailed, match="demo"):
        users.authenticate(session, "clerk", DEMO_PASSWORD)
    rt.settings.demo_mode = True
    assert users.authenticate(session, "clerk", DEMO_PASSWORD).username == "clerk"


def test_after_init_db_the_county_goes_under_the_demo_city(session, rt):
    """`jiefen init-db` (make run) makes the county the top-level center; the demo puts it under its city."""
    users.init_directory(session, demo.COUNTY[0], demo.COUNTY[1], demo.COUNTY[2])
    assert load_demo(session, PROCESSES).startswith("demo loaded")
    county = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == demo.COUNTY[0]))
    city = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == demo.CITY[0]))
    assert county.parent_id == city.id and city.parent_id is None
    assert county.path == f"/{city.id}/{county.id}/"
    assert session.scalar(select(func.count()).select_from(TaskModel).where(
        TaskModel.spec_name == "accept_escalation", TaskModel.org_unit_id == city.id)) == 1


@pytest.mark.parametrize("today", ["2026-02-24T10:00", "2026-10-08T08:00"])
def test_the_story_holds_right_after_a_long_holiday(session, rt, today):
    """Loaded the first working day after 春节 or 国庆 (eight days without work in the last two months), every
    scenario still ends where it says and the ladder cases stand at their steps."""
    from datetime import datetime
    rt.clock.set(datetime.fromisoformat(today).replace(tzinfo=CHINA_TZ))
    assert load_demo(session, PROCESSES).startswith("demo loaded")
    levels = set(session.scalars(select(TaskModel.warning_level).where(TaskModel.kind == "bpmn")))
    assert {1, 2, 3, 4} <= levels
