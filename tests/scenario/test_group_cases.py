"""群体性 / 高风险 cases change something real (issue 17 §2): the case is marked in the lists and on its page,
the director is told at once (a task), and the director calls a 会商研判 of the departments they tick, each
getting its own task. Through the API (and the task list page) as the center's users."""
from tests.scenario.conftest import china
from tests.scenario.test_dispute import AGREE, REGISTER
from tests.scenario.test_ladder_supervision import done
from tests.support.web import ui_login


def follow(c, cid) -> dict[str, dict]:
    return {t["title"]: t for t in c.case(cid)["tasks"] if t["kind"] == "consultation"}


def registered(c, **extra) -> int:
    case = c.open("dispute", "clerk", {"channel": "walk_in"})
    c.complete(case["id"], "register", "clerk", {**REGISTER, "received_date": c.day(0), **extra})
    return case["id"]


def test_a_group_case_tells_the_director_who_calls_a_joint_consultation(center):
    c = center
    c.set_time(china("2026-03-05", 10))
    cid = registered(c, people_involved=35, summary="35名农民工聚集讨薪")
    [(title, alert)] = follow(c, cid).items()
    assert title == "群体性案件报告：会商研判" and alert["roles"] == ["director"]
    assert [e["payload"]["reasons"] for e in c.events(cid) if e["type"] == "case_flagged"] == [["群体性（35人）"]]
    form = c.get(f"/api/v1/tasks/{alert['id']}", "director")["form"]
    assert form[0]["readonly"] and form[0]["default"] == "群体性（35人）"
    ticks = [f for f in form if f["id"].startswith("consult_dept_")]
    assert ticks and all(f["type"] == "boolean" and f["label"].startswith("会商部门：") for f in ticks)
    assert not c.listed(cid, "group_alert", "screener")  # the director's, not the staff's

    refused = done(c, alert["id"], "director", {"consult_topic": "欠薪群体稳控"}, 422)  # no department ticked
    assert "consult_dept_police" in refused["details"]
    done(c, alert["id"], "director", {"consult_topic": "欠薪群体稳控与分流", "consult_dept_police": True,
                                      "consult_dept_hrss": True})
    consults = follow(c, cid)
    assert sorted(consults) == ["会商研判：人社局/劳动仲裁", "会商研判：公安"]
    police = consults["会商研判：公安"]
    assert police["roles"] == ["dept_police"] and c.listed(cid, "group_consult", "police")
    assert not c.listed(cid, "group_consult", "justice")  # not ticked: not called
    form = c.get(f"/api/v1/tasks/{police['id']}", "police")["form"]
    assert {f["id"]: f.get("default") for f in form if f["readonly"]}["gc_topic"] == "欠薪群体稳控与分流"
    done(c, police["id"], "police", {"consult_opinion": "派出所民警到场稳控，防止过激行为"})
    kinds = [e["type"] for e in c.events(cid) if e["type"].startswith(("case_flagged", "consultation_"))]
    assert kinds == ["case_flagged", "consultation_called", "consultation_answered"]

    # later commands on the same case do not tell the director again
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "complex"})
    assert sorted(follow(c, cid)) == ["会商研判：人社局/劳动仲裁"]


def test_a_high_risk_screening_marks_the_case_in_the_task_list(center, client):
    c = center
    c.set_time(china("2026-03-05", 10))
    cid = registered(c, people_involved=2)
    assert follow(c, cid) == {}  # two people, no risk: nothing happens
    c.complete(cid, "screen", "screener", {**AGREE, "escalation_risk": "high", "tier": "major"})
    assert list(follow(c, cid)) == ["高风险案件报告：会商研判"]
    ui_login(client, "police")
    page = client.get("/tasks/").get_data(as_text=True)  # 公安介入稳控 is in the police officer's list
    code = c.case(cid)["code"]
    row = page[page.index(f'data-case-code="{code}"'):]
    assert '<span class="badge badge-red case-flag">高风险</span>' in row[:row.index("</tr>")]


def test_a_small_case_is_not_marked(center):
    c = center
    cid = registered(c, people_involved=9)  # [group_case] people_involved_at_least = 10
    assert follow(c, cid) == {} and not [e for e in c.events(cid) if e["type"] == "case_flagged"]
