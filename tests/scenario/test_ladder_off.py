"""No supervision ladder on the parties' own windows or on court-internal limits, and one supervision track for a
late petition (issue 17 §2): user tasks marked jiefen.ladder = off (docs/designers.md) get no 提示 … 挂牌督办.
Through the API as the center's users."""
import pytest

from engine.errors import ProcessDefinitionError
from engine.services import processes
from engine.services.users import SYSTEM
from engine.versions import active_loaded_version
from tests.scenario import test_judicial_confirmation as jc
from tests.scenario import test_petition as pt
from tests.scenario.conftest import china


def ladder_of(c, cid) -> set[str]:
    """The task titles with a supervision-ladder step to come (the case page's timers)."""
    return {t["name"].partition("：")[2] for t in c.case(cid)["timers"] if t["kind"] == "ladder"}


def escalated(c, cid) -> set[str]:
    return {e["task"] for e in c.events(cid) if e["type"] == "task_escalated"}


def test_a_late_petition_reply_is_supervised_once_by_the_petition_office(center):
    """信访工作条例 第40条: the BPMN's own 督办单 from the petition office; the generic ladder stays away."""
    c = center
    cid = pt.accepted(c)
    c.complete(cid, "pt_handle", "competent", {"handle_action": "opinion", "investigation_note": "已调查核实"})
    assert c.ready(cid) == ["pt_reply"]
    assert "出具处理意见并书面答复" not in ladder_of(c, cid)
    c.drain(china("2026-05-07", 12))  # 60 days from 2 March ended on 6 May
    assert c.ready(cid) == ["pt_reply", "pt_supervision_notice"]
    assert [t for t in c.case(cid)["tasks"] if t["kind"] == "supervision"] == []  # no second 督办单
    # the petition office's own 督办 task is staff work: it has the ladder, and only it
    assert ladder_of(c, cid) == {"发出督办单"}
    c.drain(china("2026-05-20", 9))  # weeks later: still no generic 督办单 about the reply
    assert "出具处理意见并书面答复" not in escalated(c, cid)
    follow_ups = {t["title"]: t for t in c.case(cid)["tasks"] if t["kind"] == "supervision"}
    assert set(follow_ups) <= {"催办：发出督办单", "督办单：发出督办单", "挂牌督办：发出督办单"}
    # a confidential petition: the unit head (no petition role) reads it while holding its follow-up, and acts
    reminder = follow_ups["催办：发出督办单"]
    assert reminder["roles"] == ["unit_head"]
    c.get(f"/api/v1/tasks/{reminder['id']}", "unit_head")
    c.get(f"/api/v1/cases/{cid}", "unit_head")
    assert c.post(f"/api/v1/tasks/{reminder['id']}/claim", "unit_head").status_code == 200
    done = c.post(f"/api/v1/tasks/{reminder['id']}/complete", "unit_head",
                  {"data": {"urge_action": "urged", "urge_note": "已督促信访部门当日发出督办单"}})
    assert done.status_code == 200, done.get_json()


def test_the_review_request_window_is_the_partys_and_gets_no_ladder(center):
    c = center
    cid = pt.accepted(c)
    pt.replied(c, cid, "support", "satisfied")
    assert c.ready(cid) == ["pt_await_review"]
    assert ladder_of(c, cid) == set()
    c.drain(china("2026-04-10", 9))  # the 30-day window and its 在途 days ran out: the reply is final, nobody chased
    assert "pt_await_review" not in c.ready(cid) and c.case(cid)["data"]["final_stage"] == "reply"
    assert "复查申请期（30日）" not in escalated(c, cid)


def test_judicial_confirmation_windows_and_court_limits_get_no_ladder(center):
    c = center
    cid = jc.registered(c)
    assert c.ready(cid) == ["jc_joint_application"]
    assert ladder_of(c, cid) == set()  # the parties' 30 days to apply
    c.complete(cid, "jc_joint_application", "mediator", {"jc_application": "joint", "jc_application_date": c.day(0)})
    assert c.ready(cid) == ["jc_accept"] and ladder_of(c, cid) == set()  # the court's 3 days
    c.drain(china("2026-03-20", 9))
    assert escalated(c, cid) == set() and [t for t in c.case(cid)["tasks"] if t["kind"] == "supervision"] == []


BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="t">
  <bpmn:process id="ladder_prop" name="阶梯属性" isExecutable="true">
    <bpmn:startEvent id="start"{start}><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="wait_window" name="等待" camunda:candidateGroups="mediator" camunda:dueDate="=workdays(1)">
      <bpmn:extensionElements><camunda:properties>
        <camunda:property name="jiefen.ladder" value="{value}" />
      </camunda:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_window" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait_window" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>"""
ON_START = """><bpmn:extensionElements><camunda:properties>
        <camunda:property name="jiefen.ladder" value="off" /></camunda:properties></bpmn:extensionElements"""


@pytest.mark.parametrize("value, start, element, words", [
    ("maybe", "", "wait_window", "use off"),
    ("off", ON_START, "start", "put it on the user task"),
])
def test_a_wrong_ladder_property_is_refused_at_deploy_naming_the_element(session, value, start, element, words):
    xml = BPMN.format(value=value, start=start.rstrip(">") if start else "").encode()
    with pytest.raises(ProcessDefinitionError) as caught:
        processes.deploy(session, {"ladder_prop.bpmn": xml}, SYSTEM)
    problems = [p for p in caught.value.problems if p.element_id == element]
    assert problems and words in problems[0].message, caught.value.problems


@pytest.mark.parametrize("value, laddered", [("off", False), ("on", True)])
def test_a_right_ladder_property_deploys(session, value, laddered):
    processes.deploy(session, {"ladder_prop.bpmn": BPMN.format(value=value, start="").encode()}, SYSTEM)
    assert active_loaded_version(session, "ladder_prop").user_task("wait_window")["ladder"] is laddered
