"""The case page shows a case's open incidents (故障) and their history events."""
from __future__ import annotations

from datetime import timedelta

from engine.services import cases, incidents, processes
from engine.services.timers import TimerPolicy, fire_due_timers
from engine.services.users import SYSTEM
from tests.conftest import FIXTURES, START
from tests.support.web import ui_login


def test_case_page_shows_an_open_incident_with_its_element_message_and_time(client, session, directory, actor):
    processes.deploy(session, {"timer_faults.bpmn": (FIXTURES / "engine" / "timer_faults.bpmn").read_bytes()}, SYSTEM)
    case = cases.start_case(session, "calendar_fault", {}, SYSTEM)
    fire_due_timers(session, START + timedelta(days=1001), worker="d", policy=TimerPolicy(max_attempts=1))
    [incident] = incidents.case_incidents(session, case.id)
    ui_login(client, "mediator1", expect=302)
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    block = html[html.index('id="incidents"'):]
    block = block[:block.index("</section>")]
    assert "<h2>故障</h2>" in block and f'data-incident-id="{incident.id}"' in block
    for text in ("等待1000日", "(cf_due)", "no holiday data for the year 2100", "1 次尝试", "请管理员重试或标记为已处理",
                 "流程执行出错"):  # the incident's message by id, in the reader's language
        assert text in block, text
    assert incident.message_id == "process.failed" and incident.message_params["element"] == "cf_due"
    assert "故障：定时任务多次执行失败" in html  # the history event
    history = html[html.index('data-type="incident_opened"'):]
    assert "流程执行出错（cf_due）" in history[:history.index("</li>")]  # its message in the reader's language
    assert "Upcoming deadlines" not in html and "即将到期" not in html  # not among what is still to fire

    incidents.resolve_incident(session, incident.id, actor("admin"), "另案处理")
    html = client.get(f"/cases/{case.id}").get_data(as_text=True)
    assert 'id="incidents"' not in html
    assert "故障已处理" in html and "已处理，定时任务不再执行 · 另案处理" in html
