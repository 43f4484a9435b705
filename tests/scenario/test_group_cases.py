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


# ---------------------------------------------------------------- sorted first (issue 17 §2)

def _ids(c, url: str, user: str) -> list:
    return [t["id"] for t in c.get(url, user)["items"]]


def test_group_and_high_risk_cases_come_first_in_every_list_and_the_ledger(center):
    c = center
    c.set_time(china("2026-03-02", 9))
    plain = registered(c, people_involved=2)
    c.set_time(china("2026-03-02", 10))
    later = registered(c, people_involved=3)
    c.set_time(china("2026-03-03", 9))  # registered last, due last: a 群体性 case
    group = registered(c, people_involved=35, summary="35名农民工聚集讨薪")
    screens = {cid: c.task(cid, "screen")["id"] for cid in (plain, later, group)}
    expected = [screens[group], screens[plain], screens[later]]
    for sort in ("due", "created"):  # the screener's queue, in each order: the group case first
        assert _ids(c, f"/api/v1/tasks?sort={sort}", "screener")[:3] == expected, sort
    assert _ids(c, "/api/v1/tasks?sort=warning", "screener")[0] == screens[group]  # (the other two tie)
    assert _ids(c, "/api/v1/tasks?sort=-due", "screener")[:3] == [screens[group], screens[later], screens[plain]]
    assert _ids(c, "/api/v1/tasks?per_page=1&page=2", "screener") == [screens[plain]]  # pages follow the order
    # the supervision desk's oversight list and the director's all-tasks view of the unit
    for sort in ("due", "-created", "warning"):
        items = c.get(f"/api/v1/tasks?scope=supervised&sort={sort}", "supervisor")["items"]
        assert next(t["id"] for t in items if t["name"] == "screen") == screens[group], sort
        assert items[0]["case_id"] == group, sort
    # the ledger: the group case first whatever the order asked for
    for sort in ("opened", "-opened", "code"):
        assert c.get(f"/api/v1/cases?sort={sort}", "director")["items"][0]["id"] == group, sort

    # a case flagged later (high risk found at screening): its tasks move up, in the lists of every role
    c.complete(later, "screen", "screener", {**AGREE, "escalation_risk": "high", "tier": "major"})
    police = [t for t in c.case(later)["tasks"] if t["kind"] == "bpmn"]
    assert police and all(t["roles"] == ["dept_police"] for t in police)
    assert _ids(c, "/api/v1/tasks", "police")[0] == police[0]["id"]
    assert [row["id"] for row in c.get("/api/v1/cases?sort=-opened", "director")["items"]][:2] == [group, later]


def test_a_case_flagged_while_a_supervision_task_is_open_moves_that_task_up(center):
    c = center
    c.set_time(china("2026-03-05", 10))  # Thursday: 登记 due Friday 24:00
    first = c.open("dispute", "clerk", {"channel": "walk_in"})["id"]
    second = c.open("dispute", "clerk", {"channel": "walk_in"})["id"]
    c.drain(china("2026-03-09", 0, 0, 1))  # Monday: 催办 and 督办单 for both late registrations
    notices = {cid: next(t["id"] for t in c.case(cid)["tasks"] if t["name"] == "supervision_notice")
               for cid in (first, second)}
    before = [i for i in _ids(c, "/api/v1/tasks", "unit_head") if i in notices.values()]
    assert before == [notices[first], notices[second]]
    c.set_time(china("2026-03-09", 9))
    c.complete(second, "register", "clerk", {**REGISTER, "received_date": "2026-03-05", "people_involved": 40})
    after = [i for i in _ids(c, "/api/v1/tasks", "unit_head") if i in notices.values()]
    assert after == [notices[second], notices[first]]  # the open 督办单 of the now 群体性 case went first
