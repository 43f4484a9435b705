"""The supervision ladder addresses the unit at fault and says what is late (issue 17 §2).

The 督办单 goes to the head of the unit holding the late task and shows which task of which case, who holds it,
the deadline and its basis, how many (working) days it is late, the step and what earlier steps said; the head
answers in writing (reason, measures, new date); the supervising center one level up reviews the answer and
closes it (销号) or sends it back (退回). Through the API as the center's users."""
from engine.services import users
from tests.scenario.conftest import COUNTY_CODE, TOWNSHIP_CODE, china
from tests.scenario.test_dispute import AGREE, REGISTER
from tests.support import PASSWORD

ANSWER = {"reason": "研判员外出参加培训，未及时处理", "measures": "已指定专人当日完成研判", "new_date": "2026-03-10"}


def sheet(c, task_id: str, user: str) -> tuple[dict[str, str], list[str]]:
    """A follow-up task's form as its user reads it: the read-only 督办单 (id -> text) and the fields to fill."""
    form = c.get(f"/api/v1/tasks/{task_id}", user)["form"]
    shown = {f["id"]: f.get("default", "") for f in form if f["readonly"]}
    assert all(f["label"] and not f["label"].isascii() for f in form), form  # labelled in Chinese
    return shown, [f["id"] for f in form if not f["readonly"]]


def follow_ups(c, cid) -> dict[str, dict]:
    return {t["name"]: t for t in c.case(cid)["tasks"] if t["kind"] == "supervision"}


def done(c, task_id: str, user: str, data: dict, status: int = 200):
    assert c.post(f"/api/v1/tasks/{task_id}/claim", user).status_code == 200
    response = c.post(f"/api/v1/tasks/{task_id}/complete", user, {"data": data})
    assert response.status_code == status, response.get_json()
    return response.get_json()


def verified(c, cid) -> None:
    """The history (with the follow-up tasks' own events) still chains and replays."""
    check = c.get(f"/api/v1/cases/{cid}/verify")
    assert check["chain_ok"] and check["replay_ok"], check["problems"]


def test_the_unit_head_answers_the_notice_and_the_supervisor_reviews_it(center, session):
    c = center
    users.create_user(session, "li", PASSWORD, ["screener"], [COUNTY_CODE], "李研判")
    session.commit()
    c.set_time(china("2026-03-05", 10))  # a Thursday
    case = c.open("dispute", "clerk", {"channel": "walk_in"})
    cid = case["id"]
    c.complete(cid, "register", "clerk", {**REGISTER, "received_date": c.day(0)})
    screen = c.task(cid, "screen")  # 研判: one working day, due Friday 24:00
    assert c.post(f"/api/v1/tasks/{screen['id']}/claim", "li").status_code == 200  # held, not done

    c.drain(china("2026-03-09", 0, 0, 1))  # Monday: 催办 and the 督办单
    notice = follow_ups(c, cid)["supervision_notice"]
    assert notice["title"] == "督办单：研判" and notice["roles"] == ["unit_head"]
    shown, fill = sheet(c, notice["id"], "unit_head")
    assert shown["sv_case"] == f"{case['code']}（矛盾纠纷多元化解·邻里）"  # code, process and category
    assert shown["sv_task"] == "研判"
    assert shown["sv_holder"].startswith("李研判（西湖区综治中心")  # by display name, with the unit
    assert shown["sv_due"] == "2026-03-06 24:00"
    assert "人民调解法 第17条" in shown["sv_basis"] and "期限：1个工作日" in shown["sv_basis"]
    assert "[" not in shown["sv_basis"]  # the statute and the period, not our [L]/[P] tags
    assert "催办" in shown["sv_earlier"] and "2026-03-09 00:00 催办" in shown["sv_earlier"]  # fired Monday 00:00
    assert shown["sv_late"] == "已逾期1个工作日"  # Saturday and Sunday do not count: the limit is in working days
    assert shown["sv_step"].startswith("督办（第3级")
    assert "提示" in shown["sv_earlier"] and "催办" in shown["sv_earlier"]
    assert fill == ["reason", "measures", "new_date"]

    # the supervision desk neither gets the answer to write nor may it
    assert not c.listed(cid, "supervision_notice", "supervisor")
    assert c.post(f"/api/v1/tasks/{notice['id']}/complete", "supervisor", {"data": ANSWER}).status_code == 403
    refused = done(c, notice["id"], "unit_head", {**ANSWER, "new_date": "2026-03-01"}, 422)
    assert "new_date" in refused["details"]
    done(c, notice["id"], "unit_head", ANSWER)

    # the review: at the supervising center (a county center reviews its own staff at its 督办岗), read-only answer
    review = follow_ups(c, cid)["supervision_notice_review"]
    assert review["title"] == "督办单审核：研判" and review["roles"] == ["supervisor"]
    assert not c.listed(cid, "supervision_notice_review", "unit_head")
    shown, fill = sheet(c, review["id"], "supervisor")
    assert fill == ["decision", "review_note"]  # the reviewer is never asked to write the answer
    assert (shown["sv_reason"], shown["sv_measures"], shown["sv_new_date"]) == (
        ANSWER["reason"], ANSWER["measures"], "2026-03-10")
    assert shown["sv_task"] == "研判" and shown["sv_late"] == "已逾期1个工作日"
    refused = done(c, review["id"], "supervisor", {"decision": "return"}, 422)  # 退回 says why
    assert "review_note" in refused["details"]
    done(c, review["id"], "supervisor", {"decision": "return", "review_note": "整改措施不具体，请写明完成时间"})

    # 退回: a new answer task for the unit head, with the reviewer's note
    again = follow_ups(c, cid)["supervision_notice"]
    assert again["id"] != notice["id"] and again["roles"] == ["unit_head"]
    shown, fill = sheet(c, again["id"], "unit_head")
    assert shown["sv_returned"] == "整改措施不具体，请写明完成时间"
    assert "退回重新答复" in shown["sv_earlier"] and ANSWER["reason"] in shown["sv_earlier"]
    done(c, again["id"], "unit_head", {**ANSWER, "measures": "已指定李研判于3月10日17时前完成研判"})
    review = follow_ups(c, cid)["supervision_notice_review"]
    done(c, review["id"], "supervisor", {"decision": "close"})
    assert set(follow_ups(c, cid)) == {"supervision_reminder"}  # the 催办 waits for its own record

    kinds = [(e["type"], e["actor"]) for e in c.events(cid) if e["type"].startswith("supervision_")]
    assert kinds == [("supervision_answered", "unit_head"), ("supervision_returned", "supervisor"),
                     ("supervision_answered", "unit_head"), ("supervision_closed", "supervisor")]

    # 挂牌督办: the same unit head answers again; the sheet says what the 督办单 round said
    c.drain(china("2026-03-16", 0, 0, 1))
    listing = follow_ups(c, cid)["supervision_listing"]
    assert listing["title"] == "挂牌督办：研判" and listing["roles"] == ["unit_head"]
    shown, _ = sheet(c, listing["id"], "unit_head")
    assert shown["sv_late"] == "已逾期6个工作日"  # 9–13 and 16 March
    assert shown["sv_step"].startswith("挂牌督办（第4级")
    assert "督办单销号" in shown["sv_earlier"] and "已指定李研判" in shown["sv_earlier"]
    verified(c, cid)


def test_a_township_task_is_answered_there_and_reviewed_one_level_up(center, session, rt):
    """[ladder.roles.township]: the township center's head answers; the county's 督办岗 (one level up) reviews."""
    c = center
    rt.settings.ladder_roles = {**rt.settings.ladder_roles, "township": {"notice": "director", "listing": "supervisor"}}
    c.set_time(china("2026-03-05", 10))
    case = c.open("dispute", "t_clerk", {"channel": "walk_in"}, org_unit=TOWNSHIP_CODE)
    cid = case["id"]
    c.complete(cid, "register", "t_clerk", {**REGISTER, "received_date": c.day(0)})
    c.drain(china("2026-03-09", 0, 0, 1))
    notice = follow_ups(c, cid)["supervision_notice"]
    assert notice["roles"] == ["director"]
    assert c.listed(cid, "supervision_notice", "t_director")
    assert not c.listed(cid, "supervision_notice", "director")  # the county's director is not the unit at fault
    shown, _ = sheet(c, notice["id"], "t_director")
    assert shown["sv_holder"] == "未认领（北山街道综治中心，研判员）"
    done(c, notice["id"], "t_director", ANSWER)
    review = follow_ups(c, cid)["supervision_notice_review"]
    assert c.listed(cid, "supervision_notice_review", "supervisor")  # the county center's 督办岗
    done(c, review["id"], "supervisor", {"decision": "close"})
    verified(c, cid)


# ---------------------------------------------------------------- 催办: a light task for the unit head

def _late_screen(c, session):
    """A county case whose 研判 (one working day) is held by 李研判 and falls due Tuesday 2026-03-03 24:00."""
    users.create_user(session, "li", PASSWORD, ["screener"], [COUNTY_CODE], "李研判")
    session.commit()
    c.set_time(china("2026-03-02", 10))  # a Monday
    case = c.open("dispute", "clerk", {"channel": "walk_in"})
    cid = case["id"]
    c.complete(cid, "register", "clerk", {**REGISTER, "received_date": c.day(0)})
    screen = c.task(cid, "screen")
    assert c.post(f"/api/v1/tasks/{screen['id']}/claim", "li").status_code == 200
    return case, screen


def test_a_reminder_reaches_the_unit_head_who_records_the_urging(center, session):
    c = center
    case, _ = _late_screen(c, session)
    cid = case["id"]
    c.drain(china("2026-03-04", 0, 0, 1))  # Wednesday 00:00: 催办 (the 督办单 comes a day later)
    reminder = follow_ups(c, cid)["supervision_reminder"]
    assert set(follow_ups(c, cid)) == {"supervision_reminder"}
    assert reminder["title"] == "催办：研判" and reminder["roles"] == ["unit_head"]
    assert c.listed(cid, "supervision_reminder", "unit_head")
    assert not c.listed(cid, "supervision_reminder", "supervisor")  # the head of the unit at fault, not the desk
    shown, fill = sheet(c, reminder["id"], "unit_head")
    assert shown["sv_task"] == "研判" and shown["sv_due"] == "2026-03-03 24:00"  # what is late, since when
    assert shown["sv_holder"].startswith("李研判（西湖区综治中心")  # the holder by name
    assert shown["sv_step"].startswith("催办（第2级")
    assert fill == ["urge_action", "urge_note"]  # no written answer, no review: that is the 督办单's
    assert c.get(f"/api/v1/tasks/{reminder['id']}", "unit_head")["due_at"].startswith("2026-03-04")  # 1 working day

    refused = done(c, reminder["id"], "unit_head", {"urge_action": "urged"}, 422)
    assert "urge_note" in refused["details"]
    done(c, reminder["id"], "unit_head", {"urge_action": "urged", "urge_note": "已电话督促李研判今日完成研判"})
    assert follow_ups(c, cid) == {}  # recorded; nothing goes to a reviewer
    recorded = [e for e in c.events(cid) if e["type"] == "reminder_recorded"]
    assert [(e["actor"], e["payload"]["data"]["urge_note"]) for e in recorded] == [
        ("unit_head", "已电话督促李研判今日完成研判")]

    # the 督办单 a day later says what the 催办 did
    c.drain(china("2026-03-05", 0, 0, 1))
    notice = follow_ups(c, cid)["supervision_notice"]
    shown, _ = sheet(c, notice["id"], "unit_head")
    assert "催办：已督促承办人" in shown["sv_earlier"] and "已电话督促李研判" in shown["sv_earlier"]
    verified(c, cid)


def test_a_reminder_closes_by_itself_when_the_late_task_is_done_first(center, session):
    c = center
    case, screen = _late_screen(c, session)
    cid = case["id"]
    c.drain(china("2026-03-04", 0, 0, 1))
    reminder = follow_ups(c, cid)["supervision_reminder"]
    c.set_time(china("2026-03-04", 9))
    c.complete(cid, "screen", "li", {**AGREE, "tier": "ordinary"})  # the late task is done before the head acts
    assert "supervision_reminder" not in follow_ups(c, cid)
    closed = [e for e in c.events(cid) if e["type"] == "reminder_closed"]
    assert [(e["task_id"], e["actor"], e["payload"]["source"]) for e in closed] == [
        (reminder["id"], "system", screen["id"])]
    response = c.post(f"/api/v1/tasks/{reminder['id']}/complete", "unit_head",
                      {"data": {"urge_action": "urged", "urge_note": "已督促"}})
    assert response.status_code == 403  # no longer the head's to act on (nor to read: the case moved on)
    gone = c.get(f"/api/v1/tasks/{reminder['id']}", "auditor", status=409)  # done by the process, on record
    assert gone["details"]["by"] == "system"
    verified(c, cid)
