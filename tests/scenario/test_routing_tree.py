"""Cases go down the tree as well as up (issue 17 §1), through the API as the center's users: 交办 from the county
to a village committee, 上报 village → township → county → city and none at the top, a role nobody holds refused
at once (422 naming the role and the unit), 首问负责 feedback after the case moved, and 联合调解 with a task per
co-department."""
import re

from sqlalchemy import select

from engine.models import UserModel
from engine.services import users
from tests.scenario.conftest import CITY_CODE, COUNTY_CODE, TOWNSHIP_CODE, VILLAGE_CODE, end_of
from tests.scenario.test_dispute import AGREE, register
from tests.support import PASSWORD
from tests.support.web import csrf, ui_login

TERMINATE = {"termination_reason": "对赔偿数额分歧过大", "guided_channel": "litigation"}


def form_of(c, cid, name, user):
    task = c.task(cid, name)
    return {f["id"]: f for f in c.get(f"/api/v1/tasks/{task['id']}", user)["form"]}


def not_theirs(c, cid, name, *others):
    """Others may neither take nor complete a task assigned to its officer (a claim is refused: 403 for who may
    not read the case, 409 naming the holder for who may), nor see it in their list."""
    task = c.task(cid, name)
    for user in others:
        assert c.post(f"/api/v1/tasks/{task['id']}/claim", user).status_code in (403, 409), user
        assert c.post(f"/api/v1/tasks/{task['id']}/complete", user, {"data": {}}).status_code == 403, user
        assert not c.listed(cid, name, user), user


def dispatch_now(c, cid, user, data):
    """Complete the open 分流交办 as `user`; the raw response (the caller checks the status)."""
    task = c.task(cid, "dispatch")
    assert c.post(f"/api/v1/tasks/{task['id']}/claim", user).status_code in (200, 409)
    return c.post(f"/api/v1/tasks/{task['id']}/complete", user, {"data": data})


def test_county_case_handed_down_to_a_village_committee(center):
    c = center
    cid = register(c)
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "simple"})
    form = form_of(c, cid, "dispatch", "screener")
    # the units below the county with the roles they staff, by code and name; 上报 offered (the city is above)
    units = {o["id"]: o for o in form["handling_unit"]["enum"]}
    assert form["handling_unit"]["options_from"] == "org_units_below"
    assert COUNTY_CODE not in units and CITY_CODE not in units
    assert units[VILLAGE_CODE]["name"] == "曙光社区调解室" and "村/社区调解员" in units[VILLAGE_CODE]["roles"]
    assert units[TOWNSHIP_CODE]["name"] == "北山街道综治中心" and "研判员" in units[TOWNSHIP_CODE]["roles"]
    assert "330106-court" in units  # resident departments too
    assert [o["id"] for o in form["dispatch_route"]["enum"]] == ["handle", "escalate"]
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "grassroots_mediator",
                                             "handling_unit": VILLAGE_CODE, "assign_deadline": c.day(5),
                                             "mediation_type": "people"})
    case = c.case(cid)
    assert case["org_unit"] == VILLAGE_CODE and case["org_unit_name"] == "曙光社区调解室"
    assert case["responsible_unit"] == {"code": COUNTY_CODE, "name": "西湖区综治中心"}
    assert case["first_unit"]["code"] == COUNTY_CODE
    mediate = c.task(cid, "mediate")
    assert mediate["org_unit"] == VILLAGE_CODE and mediate["roles"] == ["grassroots_mediator"]
    assert mediate["due_at"] == end_of(c.day(5))  # the 交办期限 is the handling task's due date
    assert c.listed(cid, "mediate", "v_mediator")
    c.forbidden(cid, "mediate", "grassroots", "mediator", "screener")  # the county's staff do not hold it
    c.complete(cid, "mediate", "v_mediator", {"mediation_result": "no_agreement"})
    c.complete(cid, "terminate_mediation", "v_mediator", TERMINATE)
    # 首问负责: the county's window, where the party came, gives the feedback
    feedback = c.task(cid, "feedback")
    assert feedback["org_unit"] == COUNTY_CODE and c.listed(cid, "feedback", "clerk")
    not_theirs(c, cid, "feedback", "v_clerk")
    c.complete(cid, "feedback", "clerk", {"feedback_date": c.day(0), "feedback_method": "phone"})
    [moved] = [e for e in c.events(cid) if e["type"] == "case_assigned"]
    assert moved["payload"]["from_name"] == "西湖区综治中心" and moved["payload"]["to_name"] == "曙光社区调解室"
    ui_login(c.client, "screener", expect=302)
    page = c.client.get(f"/cases/{cid}").get_data(as_text=True)
    assert "案件已交办下级单位" in page and "由西湖区综治中心到曙光社区调解室" in page
    assert "责任中心" in page and "西湖区综治中心" in page
    c.assert_record(cid)


def test_a_unit_not_below_the_case_is_refused(center):
    c = center
    cid = register(c, user="v_clerk")
    c.complete(cid, "screen", "v_screener", {**AGREE, "tier": "simple"})
    response = dispatch_now(c, cid, "v_screener", {"dispatch_route": "handle", "handling_dept": "mediator",
                                                   "handling_unit": COUNTY_CODE, "mediation_type": "people"})
    assert response.status_code == 422 and "handling_unit" in response.get_json()["details"]
    assert c.case(cid)["org_unit"] == VILLAGE_CODE and c.ready(cid) == ["dispatch"]


def test_report_up_village_to_city_and_not_beyond(center):
    c = center
    cid = register(c, user="v_clerk", channel="grid")
    c.complete(cid, "screen", "v_screener", {**AGREE, "tier": "ordinary"})
    up = {"dispatch_route": "escalate", "handling_dept": "mediator", "mediation_type": "people"}
    for screener, upper, upper_code, tier in (("v_screener", "t_screener", TOWNSHIP_CODE, "complex"),
                                              ("t_screener", "screener", COUNTY_CODE, "complex"),
                                              ("screener", "c_screener", CITY_CODE, "simple")):
        c.complete(cid, "dispatch", screener, up)
        c.complete(cid, "accept_escalation", upper, {"tier": tier}, forbidden=(screener,))
        assert c.case(cid)["org_unit"] == upper_code and c.ready(cid) == ["dispatch"]
    moves = [(e["payload"]["from_name"], e["payload"]["to_name"]) for e in c.events(cid) if e["type"] == "case_moved"]
    assert moves == [("曙光社区调解室", "北山街道综治中心"), ("北山街道综治中心", "西湖区综治中心"),
                     ("西湖区综治中心", "杭州市综治中心")]
    # at the top 上报 is not offered, and refused if sent anyway
    form = form_of(c, cid, "dispatch", "c_screener")
    assert [o["id"] for o in form["dispatch_route"]["enum"]] == ["handle"]
    assert COUNTY_CODE in {o["id"] for o in form["handling_unit"]["enum"]}
    response = dispatch_now(c, cid, "c_screener", up)
    assert response.status_code == 422 and "dispatch_route" in response.get_json()["details"]
    # a role nobody holds at the city (no resident departments there): refused at once, naming role and unit
    response = dispatch_now(c, cid, "c_screener", {"dispatch_route": "handle", "handling_dept": "dept_housing",
                                                   "mediation_type": "people"})
    body = response.get_json()
    assert response.status_code == 422, body
    assert "住建" in body["message"] and "杭州市综治中心" in body["message"], body["message"]
    assert c.ready(cid) == ["dispatch"] and c.case(cid)["org_unit"] == CITY_CODE  # nothing half-done
    # 交办 back down to the county; the city stays responsible
    c.complete(cid, "dispatch", "c_screener", {"dispatch_route": "handle", "handling_dept": "dept_housing",
                                               "handling_unit": COUNTY_CODE, "mediation_type": "people"})
    case = c.case(cid)
    assert case["org_unit"] == COUNTY_CODE and case["responsible_unit"]["code"] == CITY_CODE
    c.complete(cid, "mediate", "housing", {"mediation_result": "no_agreement"})
    c.complete(cid, "terminate_mediation", "housing", TERMINATE)
    # 首问负责 after 上报 and 交办: the village where the party came gives the feedback
    feedback = c.task(cid, "feedback")
    assert feedback["org_unit"] == VILLAGE_CODE and c.listed(cid, "feedback", "v_clerk")
    assert feedback["assignee"] == "v_clerk"  # the officer who registered it, by name, not the window's pool
    not_theirs(c, cid, "feedback", "clerk", "t_clerk")
    c.complete(cid, "feedback", "v_clerk", {"feedback_date": c.day(0), "feedback_method": "visit"})
    c.assert_record(cid)


def test_joint_mediation_gives_each_co_department_its_own_task(center):
    c = center
    cid = register(c)
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "complex"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "dept_hrss",
                                             "mediation_type": "labour"})
    form = form_of(c, cid, "organize_joint", "director")
    assert form["co_depts"]["multiple"] is True and form["co_depts"]["type"] == "enum"
    c.complete(cid, "organize_joint", "director", {"co_depts": ["dept_union", "dept_civil_affairs"]})
    parts = [t for t in c.case(cid)["tasks"] if t["name"] == "joint_part [child]"]
    assert sorted(tuple(t["roles"]) for t in parts) == [("dept_civil_affairs",), ("dept_union",)]
    assert all(t["title"] == "协办部门联合调解意见" for t in parts)
    by_role = {t["roles"][0]: t for t in parts}
    for role, user, other in (("dept_union", "union", "civil"), ("dept_civil_affairs", "civil", "union")):
        task = by_role[role]
        assert c.post(f"/api/v1/tasks/{task['id']}/complete", other, {"data": {"joint_opinion": "x"}}).status_code == 403
        assert c.post(f"/api/v1/tasks/{task['id']}/claim", user).status_code == 200
        done = c.post(f"/api/v1/tasks/{task['id']}/complete", user, {"data": {"joint_opinion": f"{user}参加联合调解"}})
        assert done.status_code == 200, done.get_json()
        c.done[cid].append((user, task["title"]))
    assert c.ready(cid) == ["mediate"]  # all co-departments done: the lead department mediates
    assert sorted(c.task(cid, "mediate")["roles"]) == ["dept_hrss", "mediator"]
    c.assert_record(cid)


def test_a_multi_select_takes_only_its_options(center):
    c = center
    cid = register(c)
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "complex"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "dept_hrss",
                                             "mediation_type": "labour"})
    task = c.task(cid, "organize_joint")
    c.post(f"/api/v1/tasks/{task['id']}/claim", "director")
    for bad in (["dept_union", "nobody"], [], "dept_union"):
        response = c.post(f"/api/v1/tasks/{task['id']}/complete", "director", {"data": {"co_depts": bad}})
        assert response.status_code == 422 and "co_depts" in response.get_json()["details"], (bad, response.get_json())


def test_the_task_page_offers_units_with_their_roles_and_checkboxes_for_co_departments(center):
    c = center
    cid = register(c)
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "complex"})
    ui_login(c.client, "screener", expect=302)
    dispatch = c.task(cid, "dispatch")
    page = c.client.get(f"/tasks/{dispatch['id']}").get_data(as_text=True)
    assert f'value="{VILLAGE_CODE}"' in page and "曙光社区调解室（" in page and "村/社区调解员" in page
    assert 'value="escalate"' in page  # the county has the city above it
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "dept_hrss",
                                             "mediation_type": "labour"})
    ui_login(c.client, "director", expect=302)
    task = c.task(cid, "organize_joint")
    url = f"/tasks/{task['id']}"
    page = c.client.get(url).get_data(as_text=True)
    assert page.count('type="checkbox" name="co_depts"') == 8
    token = csrf(page)
    assert c.client.post(f"{url}/claim", data={"csrf_token": token}).status_code == 302
    page = c.client.get(url).get_data(as_text=True)
    lock = re.search(r'name="lock_version" value="(\d+)"', page).group(1)
    response = c.client.post(f"{url}/complete", data={"csrf_token": csrf(page), "lock_version": lock,
                                                      "co_depts": ["dept_union", "dept_housing"]})
    assert response.status_code == 302, response.get_data(as_text=True)
    c.done[cid].append(("director", task["title"]))
    case = c.case(cid)
    assert case["data"]["co_depts"] == ["dept_union", "dept_housing"]
    assert sorted(t["roles"][0] for t in case["tasks"] if t["name"] == "joint_part [child]") == \
        ["dept_housing", "dept_union"]
    history = c.client.get(f"/cases/{cid}").get_data(as_text=True)
    assert "工会、住建" in history  # the chosen co-departments by name


def test_the_assign_deadline_holds_for_its_own_dispatch_only(center):
    c = center
    cid = register(c)
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "ordinary"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "mediator",
                                             "assign_deadline": c.day(3), "mediation_type": "people"})
    assert c.task(cid, "mediate")["due_at"] == end_of(c.day(3))
    c.complete(cid, "mediate", "mediator", {"mediation_result": "redispatch"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "mediator",
                                             "mediation_type": "people"})
    assert c.task(cid, "mediate")["due_at"] == end_of("2026-03-09")  # the tier's 7 days again
    c.assert_record(cid)


# ---------------------------------------------------------------- 首问负责: the officer, not only the unit

def _to_feedback(c, user: str, then=None) -> int:
    """A county case registered by `user`, mediated without agreement: at 结果反馈 (`then` runs before that)."""
    cid = register(c, user=user)
    if then is not None:
        then()
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "simple"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "mediator",
                                             "mediation_type": "people"})
    c.complete(cid, "mediate", "mediator", {"mediation_result": "no_agreement"})
    c.complete(cid, "terminate_mediation", "mediator", TERMINATE)
    return cid


def test_feedback_goes_to_the_officer_who_registered_the_case(center, session):
    c = center
    users.create_user(session, "zhou", PASSWORD, ["intake_clerk"], [COUNTY_CODE], "周窗口")
    session.commit()
    cid = _to_feedback(c, "clerk")
    feedback = c.task(cid, "feedback")
    assert feedback["assignee"] == "clerk" and feedback["roles"] == ["intake_clerk"]
    opened = [e for e in c.events(cid) if e["type"] == "task_opened" and e["task_id"] == feedback["id"]]
    assert opened[0]["payload"]["assignee"] == "clerk"  # the history says whose it is
    assert c.listed(cid, "feedback", "clerk")
    mine = c.get("/api/v1/tasks?assigned=me&per_page=200", "clerk")["items"]
    assert feedback["id"] in {t["id"] for t in mine}  # in the officer's own claimed tasks at once
    refused = c.post(f"/api/v1/tasks/{feedback['id']}/complete", "zhou",
                     {"data": {"feedback_date": c.day(0), "feedback_method": "phone"}})
    assert refused.status_code == 403  # another window clerk of the same unit does not take it over
    c.complete(cid, "feedback", "clerk", {"feedback_date": c.day(0), "feedback_method": "phone"})
    c.assert_record(cid)


def test_feedback_stays_with_the_first_units_pool_when_the_officer_left(center, session):
    c = center
    for name in ("wu", "zheng", "zhou"):
        users.create_user(session, name, PASSWORD, ["intake_clerk"], [COUNTY_CODE])
    session.commit()
    gone = _to_feedback(c, "wu", lambda: users.set_active(session, "wu", False))
    moved = _to_feedback(c, "zheng", lambda: _drop_role(session, "zheng"))
    for cid in (gone, moved):
        feedback = c.task(cid, "feedback")
        assert feedback["assignee"] is None and feedback["org_unit"] == COUNTY_CODE  # the window's pool
        assert c.listed(cid, "feedback", "zhou")
        c.complete(cid, "feedback", "zhou", {"feedback_date": c.day(0), "feedback_method": "phone"})


def _drop_role(session, username: str) -> None:
    """The officer moved to another post: no longer a window clerk at the county (no service changes roles yet)."""
    user = session.scalar(select(UserModel).where(UserModel.username == username))
    for membership in list(user.memberships):
        session.delete(membership)
    session.commit()
