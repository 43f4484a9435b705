"""The three shipped process files: structure, designer conventions, and their main paths on bare SpiffWorkflow.

These tests read `processes/*.bpmn` with SpiffWorkflow's Camunda parser (engine.specs' CamundaSpecParser, which
adds dispute's decision table) and drive them with a plain `BpmnWorkflow` and the engine's sandboxed script engine with the deadline helpers (engine-level scenario tests live in
tests/scenario). Time is fixed: every path runs on a clock that starts Monday 2025-03-03 09:00 China time, and
timers fire only when a test moves that clock on.
"""
from __future__ import annotations

import keyword
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

ROOT = Path(__file__).resolve().parents[2]
PROCESS_DIR = ROOT / "processes"
PROCESS_IDS = ["judicial_confirmation", "dispute", "petition_revisit"]
FILES = {pid: PROCESS_DIR / f"{pid}.bpmn" for pid in PROCESS_IDS}

NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "camunda": "http://camunda.org/schema/1.0/bpmn",
}
CAM = "{http://camunda.org/schema/1.0/bpmn}"
FLOW_NODE_TAGS = {
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent", "userTask",
    "scriptTask", "serviceTask", "manualTask", "task", "callActivity", "subProcess", "exclusiveGateway",
    "parallelGateway", "inclusiveGateway", "eventBasedGateway", "receiveTask", "sendTask", "businessRuleTask",
}
ROLES = {
    "intake_clerk", "screener", "mediator", "dept_court", "dept_procuratorate", "dept_police", "dept_justice",
    "dept_hrss", "dept_union", "dept_civil_affairs", "dept_housing", "grassroots_mediator", "task_force",
    "supervisor", "director", "revisit_staff", "petition_office", "competent_body", "review_body", "court_clerk",
    "judge", "enforcement", "unit_head", "competent_body_head",
}
HELPER_NAMES = {"legal_days", "workdays", "natural_days"}
CST = timezone(timedelta(hours=8))
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=CST)  # a Monday


# ------------------------------------------------------------------------------------------------ clock + helpers

from engine.calendar import LegalCalendar, bpmn_helpers  # noqa: E402
from engine import spiff_fixes  # noqa: E402
from engine.clock import install_spiff_clock, running_at  # noqa: E402
from engine.scripting import make_script_engine  # noqa: E402

# SpiffWorkflow run bare here, without a Runtime: install the patches Runtime() installs (idempotent).
install_spiff_clock()
spiff_fixes.install()
# 2027 provisional (weekends only), as config/calendar.toml ships it: the enforcement reminder opens in 2027
# and its due date counts working days (=workdays(1)).
HELPERS = bpmn_helpers(LegalCalendar({"years": {"2027": {"provisional": True}}}))
USING_ENGINE_CALENDAR = True


# ------------------------------------------------------------------------------------------------ parsing


def _tree(pid):
    return etree.parse(str(FILES[pid]))


@pytest.fixture(scope="module")
def parser():
    # engine.specs' parser: the stock CamundaParser has no jiefen decision tables for dispute's business rule task
    from engine.specs import CamundaSpecParser, load_decision_tables
    p = CamundaSpecParser(load_decision_tables(PROCESS_DIR))
    p.add_bpmn_files([str(f) for f in FILES.values() if f.exists()])
    return p


@pytest.fixture(scope="module")
def specs(parser):
    return {pid: (parser.get_spec(pid), parser.get_subprocess_specs(pid)) for pid in PROCESS_IDS if FILES[pid].exists()}


def _local(el):
    return etree.QName(el).localname


def _flow_nodes(tree):
    return [el for el in tree.iter() if isinstance(el.tag, str) and el.tag.startswith("{%s}" % NS["bpmn"])
            and _local(el) in FLOW_NODE_TAGS]


def _doc(el):
    d = el.find("bpmn:documentation", NS)
    return (d.text or "").strip() if d is not None else ""


def _expr_or_roles(value):
    """Role names named by a candidateGroups literal (None for an expression)."""
    if value.startswith("="):
        return None
    return [v.strip() for v in value.split(",")]


# ------------------------------------------------------------------------------------------------ static checks


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_parses_with_camunda_parser(specs, pid):
    spec, subs = specs[pid]
    assert spec.name == pid
    if pid == "petition_revisit":
        assert "judicial_confirmation" in subs, "the petition calls judicial_confirmation"


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_process_header(pid):
    tree = _tree(pid)
    procs = tree.findall("bpmn:process", NS)
    assert [p.get("id") for p in procs] == [pid], "one process per file, id = file stem"
    proc = procs[0]
    assert proc.get("isExecutable") == "true"
    starters = _expr_or_roles(proc.get(CAM + "candidateStarterGroups") or "=")
    assert starters and set(starters) <= ROLES
    assert tree.getroot().nsmap.get("camunda") == NS["camunda"]
    assert _doc(proc), "the process says what it models"


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_user_tasks_follow_the_conventions(pid):
    tree = _tree(pid)
    tasks = tree.findall(".//bpmn:userTask", NS)
    assert tasks
    for t in tasks:
        tid = t.get("id")
        groups = t.get(CAM + "candidateGroups")
        assert groups, f"{tid}: camunda:candidateGroups"
        roles = _expr_or_roles(groups)
        if roles is not None:
            for role in roles:
                assert role.split("@")[0] in ROLES, f"{tid}: unknown role {role}"
                unit = role.partition("@")[2]
                if unit.startswith("unit_of:"):
                    assert unit.removeprefix("unit_of:") in ROLES, f"{tid}: unknown role in {role}"
        due = t.get(CAM + "dueDate")
        assert due and (due.startswith("=") or re.fullmatch(r"P(\d+D|T\d+H)", due)), f"{tid}: camunda:dueDate"
        assert _doc(t), f"{tid}: documentation states the deadline and its basis"
        assert t.get("name"), f"{tid}: name"
        fields = t.findall("bpmn:extensionElements/camunda:formData/camunda:formField", NS)
        assert fields, f"{tid}: camunda:formData"
        for f in fields:
            fid = f.get("id")
            assert fid.isidentifier() and fid.isascii() and not keyword.iskeyword(fid), f"{tid}: field id {fid}"
            assert fid not in HELPER_NAMES and not fid.startswith("_"), f"{tid}: field id {fid}"
            assert f.get("type") in {"string", "long", "boolean", "date", "enum"}, f"{tid}.{fid}: type"
            assert f.get("label"), f"{tid}.{fid}: label"
            if f.get("type") == "enum":
                values = f.findall("camunda:value", NS)
                dynamic = f.find("camunda:properties/camunda:property[@id='jiefen.options']", NS)
                assert (dynamic is not None and not values) or values and all(
                    v.get("id").isascii() and v.get("name") for v in values), f"{tid}.{fid}"


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_every_timer_is_documented(pid):
    tree = _tree(pid)
    timers = tree.findall(".//bpmn:timerEventDefinition", NS)
    assert timers
    for ted in timers:
        event = ted.getparent()
        assert _doc(event), f"{event.get('id')}: timer documentation (basis)"
        bodies = [c for c in ted if _local(c) in ("timeDate", "timeDuration", "timeCycle")]
        assert len(bodies) == 1 and (bodies[0].text or "").strip(), event.get("id")
        if _local(bodies[0]) != "timeDate":
            assert bodies[0].text.strip()[0] in "'\"", f"{event.get('id')}: durations and cycles are quoted"


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_exclusive_gateways_are_total(pid):
    tree = _tree(pid)
    flows = {f.get("id"): f for f in tree.iter("{%s}sequenceFlow" % NS["bpmn"])}
    for gw in tree.findall(".//bpmn:exclusiveGateway", NS):
        outgoing = [flows[o.text] for o in gw.findall("bpmn:outgoing", NS)]
        default = gw.get("default")
        if len(outgoing) < 2:
            continue  # a merge
        for f in outgoing:
            cond = f.find("bpmn:conditionExpression", NS)
            if f.get("id") == default:
                assert cond is None, f"{gw.get('id')}: the default flow has no condition"
            else:
                assert cond is not None and cond.text.strip(), f"{gw.get('id')} -> {f.get('id')}: condition"


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_diagram_is_complete(pid):
    tree = _tree(pid)
    shapes = {s.get("bpmnElement") for s in tree.iter("{%s}BPMNShape" % NS["bpmndi"])}
    edges = {e.get("bpmnElement") for e in tree.iter("{%s}BPMNEdge" % NS["bpmndi"])}
    for node in _flow_nodes(tree):
        assert node.get("id") in shapes, f"no shape for {node.get('id')}"
    for flow in tree.iter("{%s}sequenceFlow" % NS["bpmn"]):
        assert flow.get("id") in edges, f"no edge for {flow.get('id')}"
        edge = tree.find(f".//bpmndi:BPMNEdge[@bpmnElement='{flow.get('id')}']", NS)
        assert len(edge.findall("{http://www.omg.org/spec/DD/20100524/DI}waypoint")) >= 2
    lanes = tree.findall(".//bpmn:lane", NS)
    assert lanes and all(lane.get("id") in shapes and lane.get("name") for lane in lanes)
    assert all(p.get("id") in shapes for p in tree.findall(".//bpmn:participant", NS))
    in_lanes = [ref.text for ref in tree.iter("{%s}flowNodeRef" % NS["bpmn"])]
    assert sorted(in_lanes) == sorted(n.get("id") for n in _flow_nodes(tree)), "every node in exactly one lane"


@pytest.mark.parametrize("pid", PROCESS_IDS)
def test_end_events_name_the_outcome(pid):
    tree = _tree(pid)
    ends = tree.findall(".//bpmn:endEvent", NS)
    named = [e for e in ends if e.get("name")]
    assert len(named) >= 3
    for e in ends:
        # unnamed ends close side branches (reminders, supervision notices) and say so
        assert e.get("name") or _doc(e), e.get("id")
        assert e.get("id").startswith(("end_", "jc_end_")), e.get("id")


def test_call_activities_call_judicial_confirmation():
    calls = _tree("petition_revisit").findall(".//bpmn:callActivity", NS)
    assert calls and all(c.get("calledElement") == "judicial_confirmation" for c in calls)
    # the dispute opens it as a linked case: its feedback and revisits do not wait for the court
    assert _tree("dispute").findall(".//bpmn:callActivity", NS) == []
    props = _tree("dispute").findall(".//bpmn:scriptTask[@id='open_jc']//camunda:property", NS)
    assert {p.get("name"): p.get("value") for p in props} == {"jiefen.open_case": "judicial_confirmation",
                                                              "jiefen.link_kind": "confirmation"}


def test_relapse_and_reopening_open_linked_cases():
    for pid, target in (("dispute", "dispute"), ("petition_revisit", "dispute")):
        props = _tree(pid).findall(".//bpmn:endEvent/bpmn:extensionElements/camunda:properties/camunda:property", NS)
        assert any(p.get("name") == "jiefen.open_case" and p.get("value") == target for p in props), pid


def test_registration_forms_use_the_indexed_field_ids():
    for pid, task in (("dispute", "register"), ("petition_revisit", "pt_register")):
        t = _tree(pid).find(f".//bpmn:userTask[@id='{task}']", NS)
        ids = {f.get("id"): f for f in t.findall("bpmn:extensionElements/camunda:formData/camunda:formField", NS)}
        assert {"channel", "category", "party_name", "party_phone", "summary"} <= set(ids)
        channels = {v.get("id") for v in ids["channel"].findall("camunda:value", NS)}
        assert channels == {"walk_in", "phone", "letter", "online", "grid", "hotline_12345", "dept_referral",
                            "court_referral", "higher_assignment"}
    tier = _tree("dispute").find(".//camunda:formField[@id='tier']", NS)
    assert {v.get("id") for v in tier.findall("camunda:value", NS)} == {"simple", "ordinary", "complex", "major"}


def test_engine_accepts_the_files():
    """The engine's deploy-time checks (sandbox rules, forms, expressions), when engine.specs is there."""
    specs_module = pytest.importorskip("engine.specs")
    from engine.errors import ProcessDefinitionError

    try:
        definitions = specs_module.parse_files(specs_module.load_directory(PROCESS_DIR),
                                               decisions=specs_module.load_decision_tables(PROCESS_DIR))
    except ProcessDefinitionError as exc:  # pragma: no cover - shows every problem
        pytest.fail("\n".join(f"{p.file}:{p.line} {p.element_id}: {p.message}" for p in exc.problems))
    assert sorted(d.process_id for d in definitions) == sorted(PROCESS_IDS)


# ------------------------------------------------------------------------------------------------ driving paths


class Case:
    """One workflow on the fixed clock; completes user tasks the way the engine will (data, run, engine steps)."""

    def __init__(self, specs, pid, now=T0):
        spec, subs = specs[pid]
        self.now = now
        self.wf = BpmnWorkflow(spec, subs, script_engine=make_script_engine(HELPERS))
        with running_at(self.now):
            self.wf.do_engine_steps()
        self._check_ready()

    # -- state
    def ready(self):
        return sorted(t.task_spec.name for t in self.wf.get_tasks(state=TaskState.READY, manual=True))

    def waiting_timers(self):
        out = {}
        for t in self.wf.get_tasks(state=TaskState.WAITING):
            ed = getattr(t.task_spec, "event_definition", None)
            if isinstance(ed, TimerEventDefinition):
                out[t.task_spec.name] = t.internal_data.get("event_value")
        return out

    def ends(self):
        """Names of the completed end events of the top-level process (the case outcome)."""
        return [t.task_spec.bpmn_name for t in self.wf.get_tasks(state=TaskState.COMPLETED)
                if t.workflow is self.wf and type(t.task_spec).__name__ == "EndEvent" and t.task_spec.bpmn_name]

    @property
    def data(self):
        """The case data as the next step sees it (the last task run, at the end the end event's)."""
        return self.wf.last_task.data

    # -- commands
    def complete(self, name, **data):
        with running_at(self.now):
            task = self.wf.get_next_task(state=TaskState.READY, manual=True, spec_name=name)
            assert task is not None, f"{name} is not ready; ready: {self.ready()}"
            task.data.update(data)
            task.run()
            self.wf.do_engine_steps()
        self._check_ready()
        return self

    def advance(self, **kw):
        self.now += timedelta(**kw)
        with running_at(self.now):
            self.wf.refresh_timers()
            self.wf.do_engine_steps()
        self._check_ready()
        return self

    def _check_ready(self):
        """Every ready task's =expressions (candidate groups, due date) evaluate on its data, as the engine will."""
        with running_at(self.now):
            for task in self.wf.get_tasks(state=TaskState.READY, manual=True):
                node = _USER_TASKS[task.task_spec.bpmn_id]
                for attr in ("candidateGroups", "dueDate"):
                    value = node.get(CAM + attr)
                    if value.startswith("="):
                        result = task.workflow.script_engine.evaluate(task, value[1:])
                        if attr == "candidateGroups":
                            roles = [result] if isinstance(result, str) else list(result)
                            assert roles and all(r.split("@")[0] in ROLES for r in roles), (task.task_spec.name, roles)
                        else:
                            datetime.fromisoformat(result)


_USER_TASKS = {t.get("id"): t for pid in PROCESS_IDS if FILES[pid].exists()
               for t in etree.parse(str(FILES[pid])).iter("{%s}userTask" % NS["bpmn"])}


def d(days):
    """An ISO date `days` after T0 (form date fields hold YYYY-MM-DD strings)."""
    return (T0 + timedelta(days=days)).date().isoformat()


# -- judicial_confirmation


def jc_apply(case, **extra):
    case.complete("jc_register_agreement", agreement_no="TJ-2025-001", agreement_date=d(0), mediation_org="城关镇人民调解委员会",
                  jc_court_name="某县人民法院", jc_venue_basis="mediation_org_location")
    case.complete("jc_joint_application", jc_application="joint", jc_application_date=d(2), **extra)
    case.complete("jc_accept", jc_accept_decision="accepted", jc_accept_date=d(3), jc_not_accepted_reason="none")
    return case


def test_jc_valid_ruling_and_performance(specs):
    case = Case(specs, "judicial_confirmation")
    assert case.ready() == ["jc_register_agreement"]
    case.complete("jc_register_agreement", agreement_no="TJ-2025-001", agreement_date=d(0), mediation_org="调委会",
                  jc_court_name="某县人民法院", jc_venue_basis="party_domicile")
    assert set(case.waiting_timers()) == {"jc_timer_apply_warn", "jc_timer_apply_expired"}
    # 30 days end on Wednesday 2 April; the expiry waits 7 在途 days more
    assert case.waiting_timers()["jc_timer_apply_expired"].startswith("2025-04-09T23:59:59")
    case.complete("jc_joint_application", jc_application="joint", jc_application_date=d(2))
    assert case.ready() == ["jc_accept"] and case.waiting_timers() == {}
    case.complete("jc_accept", jc_accept_decision="accepted", jc_accept_date=d(3))
    assert case.ready() == ["jc_review"]
    assert set(case.waiting_timers()) == {"jc_timer_review_cap"}
    case.complete("jc_review", jc_review_decision="ready", jc_supplement_days=7)
    case.complete("jc_issue_ruling", jc_ruling="valid", jc_ruling_date=d(10))
    case.complete("jc_serve_ruling", jc_served_date=d(11), performance_due_date=d(40))
    case.complete("jc_track_performance", jc_performance="performed")
    assert case.wf.is_completed() and case.ends() == ["确认有效"]
    assert case.data["jc_result"] == "valid"


def test_jc_party_refuses(specs):
    case = Case(specs, "judicial_confirmation")
    case.complete("jc_register_agreement", agreement_no="A", agreement_date=d(0), mediation_org="调委会",
                  jc_court_name="法院", jc_venue_basis="party_domicile")
    case.complete("jc_joint_application", jc_application="refused", jc_application_date=d(1))
    case.complete("jc_advise_lawsuit", jc_advice_method="phone")
    assert case.ends() == ["未申请司法确认"] and case.data["jc_result"] == "not_confirmed"


def test_jc_application_window_warns_then_expires(specs):
    case = Case(specs, "judicial_confirmation")
    case.complete("jc_register_agreement", agreement_no="A", agreement_date=d(0), mediation_org="调委会",
                  jc_court_name="法院", jc_venue_basis="party_domicile")
    case.advance(days=25)
    assert case.ready() == ["jc_joint_application"]
    case.advance(days=1)  # day 26: the day-25 warning has fired, the application is still open
    assert case.ready() == ["jc_apply_reminder", "jc_joint_application"]
    case.complete("jc_apply_reminder", jc_reminder_method="phone")
    case.advance(days=5)  # day 31: the 30-day period has ended, its 在途 days not yet
    assert case.ready() == ["jc_joint_application"]
    case.advance(days=7)  # day 38
    assert case.ready() == ["jc_advise_lawsuit"]
    case.complete("jc_advise_lawsuit", jc_advice_method="written")
    assert case.wf.is_completed() and case.ends() == ["未申请司法确认"]


def test_jc_not_accepted(specs):
    case = Case(specs, "judicial_confirmation")
    case.complete("jc_register_agreement", agreement_no="A", agreement_date=d(0), mediation_org="调委会",
                  jc_court_name="法院", jc_venue_basis="party_domicile")
    case.complete("jc_joint_application", jc_application="joint", jc_application_date=d(1))
    case.complete("jc_accept", jc_accept_decision="not_accepted", jc_not_accepted_reason="personal_status",
                  jc_accept_date=d(2))
    case.complete("jc_notify_not_accepted", jc_notice_date=d(2))
    assert case.ends() == ["不予受理"]


def test_jc_supplements_are_capped_and_extension_asked_once(specs):
    case = jc_apply(Case(specs, "judicial_confirmation"))
    for _ in range(3):
        case.complete("jc_review", jc_review_decision="supplement", jc_supplement_days=5)
        assert case.ready() == ["jc_submit_supplement"]
        case.complete("jc_submit_supplement", jc_supplement_date=d(5))
    case.complete("jc_review", jc_review_decision="extend", jc_supplement_days=5)
    case.complete("jc_approve_extension", jc_extended=True)
    assert case.ready() == ["jc_review"]
    case.complete("jc_review", jc_review_decision="extend", jc_supplement_days=5)  # asked before: goes on
    assert case.ready() == ["jc_issue_ruling"]
    case.complete("jc_issue_ruling", jc_ruling="withdrawn", jc_ruling_date=d(9))
    assert case.ends() == ["撤回申请"]
    # a fourth supplement request is not offered either: the gateway goes on to the ruling
    case = jc_apply(Case(specs, "judicial_confirmation"))
    for _ in range(3):
        case.complete("jc_review", jc_review_decision="supplement", jc_supplement_days=5)
        case.complete("jc_submit_supplement", jc_supplement_date=d(5))
    case.complete("jc_review", jc_review_decision="supplement", jc_supplement_days=5)
    assert case.ready() == ["jc_issue_ruling"]


def test_jc_supplement_deadline_counts_as_withdrawal(specs):
    case = jc_apply(Case(specs, "judicial_confirmation"))
    case.complete("jc_review", jc_review_decision="supplement", jc_supplement_days=5)
    # 5 days from Monday 3 March end on Saturday 8 March, a rest day: the period runs to Monday 10 March
    assert case.waiting_timers()["jc_timer_supplement_expired"].startswith("2025-03-10T23:59:59")
    case.advance(days=6)
    assert case.ready() == ["jc_submit_supplement"]
    case.advance(days=2)
    assert case.wf.is_completed() and case.ends() == ["按撤回申请处理"]


def test_jc_review_cap_escalates_without_moving_the_case(specs):
    case = jc_apply(Case(specs, "judicial_confirmation"))
    # 30 days from the filing on 6 March end on 5 April, inside the Qingming holiday: the cap is 7 April
    assert case.waiting_timers()["jc_timer_review_cap"].startswith("2025-04-07T23:59:59")
    case.advance(days=36)
    assert case.ready() == ["jc_cap_report", "jc_review"]
    case.complete("jc_cap_report", jc_cap_action="院长督办")
    case.complete("jc_review", jc_review_decision="ready", jc_supplement_days=7)
    case.complete("jc_issue_ruling", jc_ruling="rejected", jc_reject_reason="unclear", jc_ruling_date=d(32))
    assert case.data["jc_result"] == "rejected"
    case.complete("jc_rejected_followup", jc_rejected_next="sue")
    assert case.ends() == ["驳回申请"]


def test_jc_enforcement_window(specs):
    case = jc_apply(Case(specs, "judicial_confirmation"))
    case.complete("jc_review", jc_review_decision="ready", jc_supplement_days=7)
    case.complete("jc_issue_ruling", jc_ruling="valid", jc_ruling_date=d(10))
    case.complete("jc_serve_ruling", jc_served_date=d(11), performance_due_date=d(30))
    case.complete("jc_track_performance", jc_performance="not_performed")
    timers = case.waiting_timers()
    assert set(timers) == {"jc_timer_enforce_warn", "jc_timer_enforce_expired"}
    assert timers["jc_timer_enforce_expired"].startswith("2027-04-02")  # 730 days after 2025-04-02
    case.advance(days=30 + 701)
    assert case.ready() == ["jc_enforcement_application", "jc_enforcement_reminder"]
    case.complete("jc_enforcement_reminder", jc_enforce_reminder_method="sms")
    case.advance(days=30)
    assert case.wf.is_completed() and case.ends() == ["申请执行期间届满"]
    # applied in time
    case = jc_apply(Case(specs, "judicial_confirmation"))
    case.complete("jc_review", jc_review_decision="ready", jc_supplement_days=7)
    case.complete("jc_issue_ruling", jc_ruling="valid", jc_ruling_date=d(10))
    case.complete("jc_serve_ruling", jc_served_date=d(11), performance_due_date=d(30))
    case.complete("jc_track_performance", jc_performance="not_performed")
    case.complete("jc_enforcement_application", jc_enforcement_case_no="(2025)执100号", jc_enforcement_filed_date=d(60))
    assert case.ends() == ["已申请强制执行"]


# -- dispute

REGISTER = dict(channel="walk_in", category="neighbourhood", party_name="张三", party_phone="13800000000",
                summary="相邻通行纠纷", people_involved=2, received_date=d(0), first_officer="李四")


def dispute_to_mediation(case, tier="ordinary", handling_dept="mediator", mediation_type="people", **register):
    case.complete("register", **{**REGISTER, **register})
    case.complete("screen", mediation_consent="agree", escalation_risk="none", tier=tier)
    case.complete("dispatch", dispatch_route="handle", handling_dept=handling_dept, mediation_type=mediation_type)
    return case


def candidates(case, name):
    task = case.wf.get_next_task(state=TaskState.READY, manual=True, spec_name=name)
    expr = _USER_TASKS[name].get(CAM + "candidateGroups")
    assert expr.startswith("=")
    with running_at(case.now):
        return task.workflow.script_engine.evaluate(task, expr[1:])


def close_and_revisit(case, finding="performed", day=0):
    """Feedback on `day`, then the day-1 satisfaction call; returns at the first performance revisit wait."""
    case.complete("feedback", feedback_date=d(day), feedback_method="phone")
    assert case.ready() == [] and "wait_day1" in case.waiting_timers()
    case.advance(days=day + 1 - (case.now - T0).days)
    case.complete("satisfaction_call", satisfaction="satisfied")
    return case


def test_dispute_simple_case_resolved_and_revisited(specs):
    case = Case(specs, "dispute")
    assert case.ready() == ["register"]
    dispute_to_mediation(case, tier="simple", handling_dept="grassroots_mediator")
    assert case.ready() == ["mediate"] and candidates(case, "mediate") == ["grassroots_mediator"]
    assert set(case.waiting_timers()) == {"timer_mediation_warning", "timer_mediation_limit"}
    case.complete("mediate", mediation_result="agreement")
    case.complete("sign_agreement", agreement_no="TJ-1", agreement_date=d(0), mediation_org="村调委会",
                  agreement_content="让出通道", performance_mode="by_deadline", performance_due_date=d(10),
                  want_confirmation=False)
    close_and_revisit(case)
    assert case.data["closure_type"] == "resolved"
    assert list(case.waiting_timers()) == ["wait_revisit"]
    assert case.waiting_timers()["wait_revisit"].startswith("2025-03-09T23:59:59")  # day 7 starts on 10 March
    case.advance(days=7)
    case.complete("revisit_check", performance_status="performing")
    assert case.waiting_timers()["wait_revisit"].startswith("2025-04-01T23:59:59")  # day 30 starts on 2 April
    case.advance(days=23)
    case.complete("revisit_check", performance_status="performed")
    assert case.wf.is_completed() and case.ends() == ["已化解"]
    assert case.data["revisit_round"] == 2


def test_dispute_refused_mediation_is_guided_elsewhere(specs):
    case = Case(specs, "dispute")
    case.complete("register", **REGISTER)
    case.complete("screen", mediation_consent="refused", escalation_risk="none", tier="simple")
    case.complete("guide_channels", guided_channel="litigation")
    assert case.ends() == ["不同意调解（已引导其他途径）"]


def test_dispute_high_risk_goes_to_police(specs):
    case = Case(specs, "dispute")
    case.complete("register", **REGISTER)
    case.complete("screen", mediation_consent="agree", escalation_risk="high", tier="major")
    assert case.ready() == ["report_police"] and case.data["high_risk"] is True
    case.complete("report_police", police_disposition="police_case", police_measures="传唤")
    assert case.ends() == ["转公安依法处理"]
    # stabilised: mediation goes on, led by a task force under a leader who owns the case
    case = Case(specs, "dispute")
    case.complete("register", **REGISTER)
    case.complete("screen", mediation_consent="agree", escalation_risk="high", tier="major")
    case.complete("report_police", police_disposition="stabilized", police_measures="民警驻点")
    case.complete("dispatch", dispatch_route="handle", handling_dept="dept_housing", mediation_type="administrative")
    case.complete("leader_takes_case", lead_leader="王副县长", task_force_members="住建、信访、街道")
    assert candidates(case, "mediate") == ["task_force", "director"]
    assert case.data["high_risk"] is True


def test_dispute_complex_case_is_mediated_jointly(specs):
    case = dispute_to_mediation(Case(specs, "dispute"), tier="complex", handling_dept="dept_hrss")
    case.complete("organize_joint", co_depts=["dept_union"])
    assert case.ready() == ["joint_part [child]"]  # each co-department its own part (one chosen: one task)
    case.complete("joint_part [child]", joint_opinion="工会派员参加")
    assert candidates(case, "mediate") == ["dept_hrss", "mediator"]


def test_dispute_escalation_is_capped_at_three_levels(specs):
    case = Case(specs, "dispute")
    case.complete("register", **REGISTER)
    case.complete("screen", mediation_consent="agree", escalation_risk="none", tier="ordinary")
    for level in range(3):
        case.complete("dispatch", dispatch_route="escalate", handling_dept="mediator", mediation_type="people")
        assert case.ready() == ["accept_escalation"]
        assert _USER_TASKS["accept_escalation"].get(CAM + "candidateGroups") == "screener@parent,director@parent"
        case.complete("accept_escalation", tier="complex" if level else "ordinary")
        assert case.ready() == ["dispatch"]
    case.complete("dispatch", dispatch_route="escalate", handling_dept="dept_justice", mediation_type="people")
    assert case.ready() == ["organize_joint"] and case.data["escalations"] == 3


def test_dispute_mediation_can_be_sent_back_to_dispatch(specs):
    case = dispute_to_mediation(Case(specs, "dispute"))
    case.complete("mediate", mediation_result="redispatch")
    assert case.ready() == ["dispatch"]
    case.complete("dispatch", dispatch_route="handle", handling_dept="mediator", mediation_type="people")
    case.complete("mediate", mediation_result="redispatch")
    case.complete("dispatch", dispatch_route="handle", handling_dept="mediator", mediation_type="people")
    case.complete("mediate", mediation_result="redispatch")  # third round: no more redispatching
    assert case.ready() == ["terminate_mediation"]
    case.complete("terminate_mediation", termination_reason="分歧过大", guided_channel="litigation")
    close_and_revisit(case)
    assert case.ends() == ["未化解（已告知救济途径）"]


def test_dispute_labour_mediation_ends_after_15_days(specs):
    case = dispute_to_mediation(Case(specs, "dispute"), category="labour", mediation_type="labour",
                                handling_dept="dept_hrss", tier="simple")
    timers = case.waiting_timers()
    assert timers["timer_mediation_limit"].startswith("2025-03-18T23:59:59")  # received 3 March + 15 days
    case.advance(days=13)
    assert case.ready() == ["limit_warning", "mediate"]
    case.complete("limit_warning", warning_action="约双方当事人周五再调")
    case.advance(days=3)
    assert case.ready() == ["guide_arbitration"]
    case.complete("guide_arbitration", arbitration_commission="县劳动人事争议仲裁委员会")
    close_and_revisit(case, day=16)
    assert case.wf.is_completed() and case.ends() == ["调解期满转劳动仲裁"]


def test_dispute_court_referred_mediation_extends_with_consent_then_returns_to_court(specs):
    case = dispute_to_mediation(Case(specs, "dispute"), channel="court_referral", mediation_type="court_referred")
    case.advance(days=31)
    case.complete("limit_warning", warning_action="准备延长")
    assert case.ready() == ["ask_extension"]
    case.complete("ask_extension", all_parties_consent=True, extension_days=10, appraisal_days=5)
    assert case.ready() == ["mediate"] and case.data["extension_rounds"] == 1
    case.advance(days=16)
    case.complete("limit_warning", warning_action="再次延长")
    case.complete("ask_extension", all_parties_consent=True, extension_days=10, appraisal_days=0)
    case.advance(days=11)
    case.complete("ask_extension", all_parties_consent=True, extension_days=10, appraisal_days=0)  # third: no
    assert case.ready() == ["limit_warning", "return_to_court"]
    case.complete("limit_warning", warning_action="退回")
    case.complete("return_to_court", court_filing_date=d(60))
    close_and_revisit(case, day=60)
    assert case.ends() == ["调解不成退回法院"]


def test_dispute_people_mediation_expiry_without_consent_terminates(specs):
    case = dispute_to_mediation(Case(specs, "dispute"))
    case.advance(days=31)
    case.complete("limit_warning", warning_action="无")
    case.complete("ask_extension", all_parties_consent=False, extension_days=10, appraisal_days=0)
    assert case.ready() == ["terminate_mediation"]


def _sign(case, confirm):
    case.complete("sign_agreement", agreement_no="TJ-9", agreement_date=d(1), mediation_org="县调委会",
                  agreement_content="分期付款", performance_mode="installments", performance_due_date=d(90),
                  want_confirmation=confirm)


def test_dispute_confirmation_does_not_hold_up_feedback_and_revisits(specs):
    """司法确认 runs as a linked case (jiefen.open_case on open_jc, opened by the engine): the dispute goes on to
    结果反馈 at once, and its revisits and closing do not wait for the court."""
    case = dispute_to_mediation(Case(specs, "dispute"))
    case.complete("mediate", mediation_result="agreement")
    _sign(case, True)
    assert case.ready() == ["feedback"]
    assert case.data["jc_result"] == "linked" and case.data["closure_type"] == "resolved"
    close_and_revisit(case, day=2)
    case.advance(days=7)
    case.complete("revisit_check", performance_status="not_performed")
    case.complete("urge_performance", urge_result="refused")
    case.complete("advise_remedy", remedy_advised="enforcement")
    assert case.ends() == ["协议未履行（已告知诉讼或执行）"]


def test_dispute_relapse_opens_a_linked_case(specs):
    case = dispute_to_mediation(Case(specs, "dispute"))
    case.complete("mediate", mediation_result="agreement")
    _sign(case, False)
    close_and_revisit(case)
    case.advance(days=7)
    case.complete("revisit_check", performance_status="relapsed")
    assert case.ends() == ["纠纷反弹（另立关联案件）"]
    props = _tree("dispute").findall(".//bpmn:endEvent[@id='end_relapse']//camunda:property", NS)
    assert {p.get("name"): p.get("value") for p in props} == {"jiefen.open_case": "dispute", "jiefen.link_kind": "repeat",
                                                               "jiefen.outcome_class": "unresolved"}


# -- petition_revisit

PETITION = dict(channel="letter", category="expropriation", party_name="赵六", party_phone="13900000000",
                summary="征地补偿款未足额发放", people_involved=1, received_date=d(0))


def petition_accepted(case, **register):
    case.complete("pt_register", **{**PETITION, **register})
    case.complete("pt_forward", forward_decision="competent", competent_body_name="县自然资源局", forward_date=d(2))
    case.complete("pt_competence", competence="competent")
    case.complete("pt_accept", accept_decision="accepted", accept_date=d(5), accept_notice_method="written")
    case.complete("pt_classify", petition_class="claim")
    return case


def petition_replied(case, opinion="support", satisfaction="satisfied", served=30):
    case.complete("pt_handle", handle_action="opinion")
    case.complete("pt_reply", handle_opinion=opinion, reply_date=d(served - 1), reply_served_date=d(served))
    case.complete("pt_rate_satisfaction", satisfaction=satisfaction)
    return case


def test_petition_reply_accepted_then_revisited(specs):
    case = Case(specs, "petition_revisit")
    assert case.ready() == ["pt_register"]
    petition_accepted(case)
    timers = case.waiting_timers()
    assert timers["pt_timer_handle_overdue"].startswith("2025-05-07T23:59:59")  # 60 days from acceptance on 8 March
    petition_replied(case)
    assert case.ready() == ["pt_await_review"]
    # served 2 April + 30 days = 2 May, inside the 五一 holiday (1-5 May): the period runs to 6 May
    # ... and its timer waits 7 days more for a request posted in time (在途): 13 May
    assert case.waiting_timers()["pt_timer_review_window"].startswith("2025-05-13T23:59:59")
    case.advance(days=71)
    assert case.ready() == ["pt_await_review"]
    case.advance(days=1)  # 14 May: no review requested in time, the reply is final
    assert case.ready() == [] and case.data["final_stage"] == "reply" and case.data["petition_resolved"] is True
    case.advance(days=7)
    case.complete("pt_revisit", petitioner_mood="stable", rebound_risk="low")
    case.advance(days=23)
    case.complete("pt_revisit", petitioner_mood="stable", rebound_risk="medium")
    assert case.wf.is_completed() and case.ends() == ["已化解（回访稳定）"]


def test_petition_forwarded_to_discipline_ends_there(specs):
    case = Case(specs, "petition_revisit")
    case.complete("pt_register", **PETITION)
    case.complete("pt_forward", forward_decision="discipline", competent_body_name="县纪委监委", forward_date=d(1))
    assert case.ends() == ["检举控告转纪检监察"]


def test_petition_involving_litigation_is_handled_by_the_political_legal_organ(specs):
    """涉法涉诉 (信访工作条例 第22条): not an end at forward, a handling path with its feedback."""
    case = Case(specs, "petition_revisit")
    case.complete("pt_register", **PETITION)
    case.complete("pt_forward", forward_decision="political_legal", political_legal_role="dept_court",
                  competent_body_name="县人民法院", forward_date=d(1))
    assert case.ready() == ["pt_political_legal"] and case.ends() == []
    case.complete("pt_political_legal", political_legal_result="in_procedure", political_legal_date=d(20))
    assert case.ends() == ["涉法涉诉已由政法机关依法处理"]


def test_petition_objections_and_the_objection_window(specs):
    case = Case(specs, "petition_revisit")
    case.complete("pt_register", **PETITION)
    for _ in range(2):
        case.complete("pt_forward", forward_decision="competent", competent_body_name="甲局", forward_date=d(1))
        case.complete("pt_competence", competence="objection", objection_reason="不属本局职责")
        assert case.ready() == ["pt_forward"]
    case.complete("pt_forward", forward_decision="competent", competent_body_name="乙局", forward_date=d(1))
    case.complete("pt_competence", competence="objection")
    assert case.ready() == ["pt_accept"], "after two re-forwards the body must accept"
    # no objection within 5 working days: the body is deemed competent
    case = Case(specs, "petition_revisit")
    case.complete("pt_register", **PETITION)
    case.complete("pt_forward", forward_decision="competent", competent_body_name="甲局", forward_date=d(0))
    assert case.waiting_timers()["pt_timer_objection_window"].startswith("2025-03-10T23:59:59")
    case.advance(days=8)
    assert case.ready() == ["pt_accept"]


@pytest.mark.parametrize("klass,task,form,end", [
    ("suggestion", "pt_study_suggestion", dict(suggestion_adopted="adopted", suggestion_reply_date=d(20)),
     "意见建议已答复"),
    ("claim_statutory", "pt_guide_statutory", dict(statutory_route="litigation", statutory_notice_date=d(9)),
     "告知依法定途径解决"),
    ("accusation", None, None, "检举控告转纪检监察"),
])
def test_petition_classes(specs, klass, task, form, end):
    case = Case(specs, "petition_revisit")
    case.complete("pt_register", **PETITION)
    case.complete("pt_forward", forward_decision="competent", competent_body_name="甲局", forward_date=d(2))
    case.complete("pt_competence", competence="competent")
    case.complete("pt_accept", accept_decision="accepted", accept_date=d(5), accept_notice_method="sms")
    case.complete("pt_classify", petition_class=klass)
    if task:
        case.complete(task, **form)
    assert case.ends() == [end]


def test_petition_duplicate_not_accepted(specs):
    case = Case(specs, "petition_revisit")
    case.complete("pt_register", **PETITION)
    case.complete("pt_forward", forward_decision="competent", competent_body_name="甲局", forward_date=d(2))
    case.complete("pt_competence", competence="competent")
    case.complete("pt_accept", accept_decision="duplicate", accept_date=d(4), accept_notice_method="written")
    assert case.ends() == ["不予受理（同一事项正在办理）"]


def test_petition_extension_and_overdue_supervision(specs):
    case = petition_accepted(Case(specs, "petition_revisit"))
    case.complete("pt_handle", handle_action="extend")
    case.complete("pt_approve_extension", handling_extended=True, extension_notice_date=d(40))
    assert case.ready() == ["pt_handle"]
    assert case.waiting_timers()["pt_timer_handle_overdue"].startswith("2025-06-06T23:59:59")  # 90 days
    case.complete("pt_handle", handle_action="extend")  # a second extension is not offered
    assert case.ready() == ["pt_reply"]
    case.advance(days=96)  # 7 June: 90 days from acceptance have run out
    assert case.ready() == ["pt_reply", "pt_supervision_notice"]
    case.complete("pt_supervision_notice", supervision_no="督-2025-7", supervision_date=d(96))
    case.complete("pt_supervision_answer", supervision_answer="已完成调查，3日内答复")
    assert case.ready() == ["pt_reply"]


def test_petition_mediation_with_judicial_confirmation(specs):
    case = petition_accepted(Case(specs, "petition_revisit"))
    case.complete("pt_handle", handle_action="mediate")
    case.complete("pt_mediation", pt_mediation_result="agreement", agreement_no="XF-1", agreement_date=d(20),
                  want_confirmation=True)
    assert case.ready() == ["jc_register_agreement"]
    case.complete("jc_register_agreement", agreement_no="XF-1", agreement_date=d(20), mediation_org="县信访调委会",
                  jc_court_name="县法院", jc_venue_basis="mediation_org_location")
    case.complete("jc_joint_application", jc_application="joint", jc_application_date=d(21))
    case.complete("jc_accept", jc_accept_decision="accepted", jc_accept_date=d(22))
    case.complete("jc_review", jc_review_decision="ready", jc_supplement_days=7)
    case.complete("jc_issue_ruling", jc_ruling="valid", jc_ruling_date=d(25))
    case.complete("jc_serve_ruling", jc_served_date=d(26), performance_due_date=d(30))
    case.complete("jc_track_performance", jc_performance="performed")
    assert case.ready() == ["pt_rate_satisfaction"] and case.data["final_stage"] == "agreement"
    case.complete("pt_rate_satisfaction", satisfaction="basically_satisfied")
    assert "pt_wait_revisit" in case.waiting_timers()


def test_petition_failed_mediation_is_capped(specs):
    case = petition_accepted(Case(specs, "petition_revisit"))
    for _ in range(2):
        case.complete("pt_handle", handle_action="mediate")
        case.complete("pt_mediation", pt_mediation_result="no_agreement", want_confirmation=False)
    case.complete("pt_handle", handle_action="mediate")
    assert case.ready() == ["pt_reply"]


def test_petition_review_and_second_review_with_hearing(specs):
    case = petition_replied(petition_accepted(Case(specs, "petition_revisit")), opinion="reject",
                            satisfaction="dissatisfied")
    case.complete("pt_await_review", review_request_date=d(40), review_reason="补偿标准不对",
                  review_request_posted_date=d(39))
    assert case.ready() == ["pt_first_review"] and case.data["final_stage"] == "review"
    case.complete("pt_first_review", review_opinion="uphold", review_opinion_date=d(60), review_served_date=d(62))
    assert case.waiting_timers()["pt_timer_second_review_window"].startswith("2025-06-10")  # 3 June + 7 在途
    case.complete("pt_await_second_review", second_review_request_date=d(70), second_review_reason="不服复查",
                  second_review_request_posted_date=d(70))
    assert case.data["second_review_due"].startswith("2025-06-11")  # 12 May + 30 days
    case.complete("pt_second_review", second_review_opinion="hearing", second_review_date=d(80))
    case.complete("pt_hearing", hearing_days=10)
    assert case.data["second_review_due"].startswith("2025-06-23")  # hearing time not counted (21 June is Saturday)
    case.complete("pt_second_review", second_review_opinion="hearing", second_review_date=d(90))  # only once
    assert case.wf.is_completed() and case.ends() == ["复核终结（不再受理）"]


def test_petition_review_opinion_becomes_final(specs):
    case = petition_replied(petition_accepted(Case(specs, "petition_revisit")), opinion="explain",
                            satisfaction="dissatisfied")
    case.complete("pt_await_review", review_request_date=d(40), review_reason="不服", review_request_posted_date=d(40))
    case.complete("pt_first_review", review_opinion="uphold", review_opinion_date=d(60), review_served_date=d(62))
    case.advance(days=100)
    assert case.ends() == ["复查意见终结（未申请复核）"]


def test_petition_high_rebound_risk_reopens_as_dispute(specs):
    case = petition_replied(petition_accepted(Case(specs, "petition_revisit")))
    case.advance(days=77)  # the 复查 window and its 在途 days pass
    case.advance(days=7)
    case.complete("pt_revisit", petitioner_mood="agitated", rebound_risk="high")
    case.complete("pt_risk_meeting", risk_measures="领导包案", reopen_case=True)
    assert case.ends() == ["高风险另立化解案件"]


def test_every_named_end_event_of_the_shipped_processes_has_an_outcome_class():
    """The statistics count closed cases by outcome class (issue 17 §4): every end event a case can close on (a
    named one: outcome_end_task) carries a valid jiefen.outcome_class; unnamed side-branch ends never do."""
    from engine.models import OUTCOME_CLASSES
    for name in ("dispute", "judicial_confirmation", "petition_revisit"):
        for end in _tree(name).iterfind(".//bpmn:endEvent", NS):
            value = {p.get("name"): p.get("value") for p in end.iterfind(".//camunda:property", NS)}.get(
                "jiefen.outcome_class")
            if end.get("name"):
                assert value in OUTCOME_CLASSES, (name, end.get("id"), value)
            else:
                assert value is None, (name, end.get("id"))
