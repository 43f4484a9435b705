"""judicial_confirmation.bpmn on its own, end to end through the API: 调解协议 → 申请 → 受理 → 审查 → 裁定 → 履行/执行.
(The calls from dispute and petition_revisit are in their own scenario files.)"""
import pytest

from tests.scenario.conftest import china, end_of

AGREEMENT = {"agreement_no": "西调字〔2026〕第7号", "mediation_org": "北山街道人民调解委员会",
             "jc_court_name": "西湖区人民法院", "jc_venue_basis": "mediation_org_location",
             "agreement_content": "分三期支付货款6万元"}


def registered(c, user="mediator"):
    case = c.open("judicial_confirmation", user)
    assert [t["name"] for t in case["tasks"]] == ["jc_register_agreement"]
    c.complete(case["id"], "jc_register_agreement", user, {**AGREEMENT, "agreement_date": c.day(0)},
               forbidden=("judge", "clerk"))
    return case["id"]


def accepted(c, user="mediator"):
    cid = registered(c, user)
    c.complete(cid, "jc_joint_application", "mediator", {"jc_application": "joint", "jc_application_date": c.day(0),
                                                         "jc_applicants": "甲公司、乙公司"},
               forbidden=("court_clerk", "judge"))
    c.complete(cid, "jc_accept", "court_clerk", {"jc_accept_decision": "accepted", "jc_accept_date": c.day(0),
                                                 "jc_case_no": "(2026)浙0106民特21号"},
               forbidden=("mediator", "judge"))
    return cid


def valid_ruling(c, cid, performance_due):
    c.complete(cid, "jc_review", "judge", {"jc_review_decision": "ready", "jc_supplement_days": 7,
                                          "jc_parties_present": True}, forbidden=("court_clerk", "mediator"))
    c.complete(cid, "jc_issue_ruling", "judge", {"jc_ruling": "valid", "jc_ruling_date": c.day(0)},
               forbidden=("court_clerk", "unit_head"))
    c.complete(cid, "jc_serve_ruling", "court_clerk", {"jc_served_date": c.day(0),
                                                       "performance_due_date": performance_due},
               forbidden=("judge", "mediator"))


def test_valid_ruling_performed_opened_by_a_mediator(center):
    c = center
    cid = registered(c)
    # 人民调解法 第33条: joint application within 30 days of the agreement (2 March): warn on day 25, end 1 April;
    # the expiry waits 7 在途 days more for an application posted in time
    assert c.timers(cid) == {"第25日提醒": end_of("2026-03-27"), "30日申请期限届满": end_of("2026-04-08")}
    assert c.task(cid, "jc_joint_application")["due_at"] == end_of("2026-04-01")
    c.complete(cid, "jc_joint_application", "mediator", {"jc_application": "joint", "jc_application_date": c.day(0)})
    assert c.timers(cid) == {}
    accept = c.task(cid, "jc_accept")
    assert accept["roles"] == ["court_clerk"] and accept["due_at"] == end_of("2026-03-05")  # 3 days
    c.complete(cid, "jc_accept", "court_clerk", {"jc_accept_decision": "accepted", "jc_accept_date": c.day(0)})
    assert c.task(cid, "jc_review")["due_at"] == end_of("2026-03-17")  # 15 days from acceptance
    assert c.timers(cid) == {"立案后30日审限": end_of("2026-04-01")}  # 民诉法 第187条 cap
    valid_ruling(c, cid, performance_due="2026-03-31")
    track = c.task(cid, "jc_track_performance")
    assert track["roles"] == ["mediator"] and track["due_at"] == end_of("2026-04-01")
    assert c.case(cid)["data"]["jc_result"] == "valid"
    c.complete(cid, "jc_track_performance", "mediator", {"jc_performance": "performed"}, forbidden=("court_clerk",))
    case = c.assert_closed(cid, "确认有效")
    assert case["data"]["jc_result"] == "valid"
    events = c.assert_record(cid)
    basis = {e["task"]: e["payload"]["basis"] for e in events if e["type"] == "task_opened"}
    assert "第33条" in basis["双方当事人共同申请"] and "第355条" in basis["立案审查"]


def test_court_clerk_may_open_one_other_roles_may_not(center):
    c = center
    for user in ("clerk", "judge", "screener", "enforcement", "auditor"):
        response = c.post("/api/v1/cases", user, {"process_id": "judicial_confirmation", "data": {}})
        assert response.status_code == 403, user
    cid = registered(c, user="court_clerk")
    assert c.case(cid)["opened_by"] == "court_clerk"
    # one party refuses to apply: no confirmation, the parties are told they may sue on the agreement
    c.complete(cid, "jc_joint_application", "mediator", {"jc_application": "refused", "jc_application_date": c.day(1)},
               forbidden=("court_clerk",))
    c.complete(cid, "jc_advise_lawsuit", "mediator", {"jc_advice_method": "written"}, forbidden=("judge",))
    case = c.assert_closed(cid, "未申请司法确认")
    assert case["data"]["jc_result"] == "not_confirmed"
    c.assert_record(cid)


def test_not_accepted_on_a_355_ground(center):
    c = center
    cid = registered(c)
    c.complete(cid, "jc_joint_application", "mediator", {"jc_application": "joint", "jc_application_date": c.day(0)})
    c.complete(cid, "jc_accept", "court_clerk", {"jc_accept_decision": "not_accepted",
                                                 "jc_not_accepted_reason": "personal_status",
                                                 "jc_accept_date": c.day(1)})
    c.complete(cid, "jc_notify_not_accepted", "court_clerk", {"jc_notice_date": c.day(1)}, forbidden=("mediator",))
    c.assert_closed(cid, "不予受理")
    c.assert_record(cid)


def test_application_window_warns_on_day_25_and_ends_on_day_30(center):
    c = center
    cid = registered(c)
    c.drain(china("2026-03-27", 23, 59, 58))
    assert c.ready(cid) == ["jc_joint_application"]
    c.drain(china("2026-03-28", 0, 0, 0))
    assert c.ready(cid) == ["jc_apply_reminder", "jc_joint_application"]
    c.complete(cid, "jc_apply_reminder", "mediator", {"jc_reminder_method": "phone"}, forbidden=("court_clerk",))
    c.drain(china("2026-04-08", 23, 59, 58))
    assert c.ready(cid) == ["jc_joint_application"]
    c.drain(china("2026-04-09", 0, 0, 0))
    assert c.ready(cid) == ["jc_advise_lawsuit"]
    c.complete(cid, "jc_advise_lawsuit", "mediator", {"jc_advice_method": "phone"})
    case = c.assert_closed(cid, "未申请司法确认")
    assert case["data"]["jc_result"] == "not_confirmed"
    events = c.assert_record(cid)
    assert [e["payload"]["command"]["timer"] for e in events if e["type"] == "timer_fired"] == \
        ["第25日提醒", "30日申请期限届满"]
    assert "双方当事人共同申请" in [e["task"] for e in events if e["type"] == "task_cancelled"]


def test_supplements_extension_and_withdrawal(center):
    c = center
    cid = accepted(c)
    for _ in range(3):
        c.complete(cid, "jc_review", "judge", {"jc_review_decision": "supplement", "jc_supplement_days": 5,
                                              "jc_supplement_items": "补充身份证明"})
        c.complete(cid, "jc_submit_supplement", "court_clerk", {"jc_supplement_date": c.day(0)},
                   forbidden=("judge",))
    c.complete(cid, "jc_review", "judge", {"jc_review_decision": "extend", "jc_supplement_days": 5})
    c.complete(cid, "jc_approve_extension", "unit_head", {"jc_extended": True, "jc_extension_reason": "案情复杂"},
               forbidden=("judge", "court_clerk"))
    # 法释〔2011〕5号 第5条: +10 days with the president's approval: 25 days from acceptance on 2 March
    assert c.task(cid, "jc_review")["due_at"] == end_of("2026-03-27")
    c.complete(cid, "jc_review", "judge", {"jc_review_decision": "extend", "jc_supplement_days": 5})  # asked once
    assert c.ready(cid) == ["jc_issue_ruling"]
    assert c.task(cid, "jc_issue_ruling")["due_at"] == end_of("2026-03-27")
    c.complete(cid, "jc_issue_ruling", "judge", {"jc_ruling": "withdrawn", "jc_ruling_date": c.day(0)})
    c.assert_closed(cid, "撤回申请")
    c.assert_record(cid)


def test_missed_supplement_deadline_across_national_day_counts_as_withdrawn(center):
    c = center
    c.set_time(china("2026-09-25", 9))  # Friday, 中秋 holiday: the parties came in anyway
    cid = registered(c)
    # 30 days from 25 September end on Sunday 25 October: the next working day
    assert c.task(cid, "jc_joint_application")["due_at"] == end_of("2026-10-26")
    assert c.timers(cid)["30日申请期限届满"] == end_of("2026-11-02")  # + 7 在途 days
    c.complete(cid, "jc_joint_application", "mediator", {"jc_application": "joint", "jc_application_date": c.day(0)})
    c.complete(cid, "jc_accept", "court_clerk", {"jc_accept_decision": "accepted", "jc_accept_date": c.day(0)})
    # 15 days from 25 September end on Saturday 10 October, a 调休 make-up working day: the period ends there
    assert c.task(cid, "jc_review")["due_at"] == end_of("2026-10-10")
    c.complete(cid, "jc_review", "judge", {"jc_review_decision": "supplement", "jc_supplement_days": 7})
    # 解释 第357条: 7 days from 25 September end on 2 October, inside National Day (1–7 October): to 8 October
    timers = c.timers(cid)
    assert timers["补充期限届满"] == "2026-10-08T23:59:59+08:00"
    assert c.task(cid, "jc_submit_supplement")["due_at"] == "2026-10-08T23:59:59+08:00"
    c.drain(china("2026-10-08", 23, 59, 58))
    assert c.ready(cid) == ["jc_submit_supplement"]
    c.drain(china("2026-10-09", 0, 0, 0))
    case = c.assert_closed(cid, "按撤回申请处理")
    # the timer takes effect at the end of its day (just after 23:59:59), not when the drain ran
    assert case["closed_at"] == "2026-10-08T23:59:59.000001+08:00"
    events = c.assert_record(cid)
    fired = [e for e in events if e["type"] == "timer_fired"]
    assert fired[-1]["payload"]["command"]["timer"] == "补充期限届满"
    assert fired[-1]["at"] == case["closed_at"]


def test_review_cap_is_reported_then_rejected_ruling_advises_suing(center):
    c = center
    cid = accepted(c)
    c.complete(cid, "jc_review", "judge", {"jc_review_decision": "ready", "jc_supplement_days": 7})
    assert c.timers(cid) == {"立案后30日审限": end_of("2026-04-01")}
    c.drain(china("2026-04-01", 23, 59, 58))
    assert c.ready(cid) == ["jc_issue_ruling"]
    c.drain(china("2026-04-02", 0, 0, 0))  # 民诉法 第187条: 30 days after filing the president is told
    assert c.ready(cid) == ["jc_cap_report", "jc_issue_ruling"]
    assert c.task(cid, "jc_cap_report")["roles"] == ["unit_head"]
    c.complete(cid, "jc_cap_report", "unit_head", {"jc_cap_action": "院长督办，限3日内裁定"},
               forbidden=("judge", "court_clerk"))
    c.complete(cid, "jc_issue_ruling", "judge", {"jc_ruling": "rejected", "jc_reject_reason": "harms_interest",
                                                 "jc_ruling_date": c.day(0)})
    assert c.case(cid)["data"]["jc_result"] == "rejected"
    c.complete(cid, "jc_rejected_followup", "mediator", {"jc_rejected_next": "sue"}, forbidden=("judge",))
    case = c.assert_closed(cid, "驳回申请")
    assert case["data"]["jc_result"] == "rejected" and case["data"]["jc_rejected_next"] == "sue"
    c.assert_record(cid)


def _cap_passed_during_review(c):
    cid = accepted(c)
    c.drain(china("2026-04-02", 0, 0, 0))
    assert c.ready(cid) == ["jc_cap_report", "jc_review"]
    c.complete(cid, "jc_review", "judge", {"jc_review_decision": "ready", "jc_supplement_days": 7})
    return cid


def test_the_30_day_cap_raises_one_report(center):
    c = center
    cid = _cap_passed_during_review(c)
    assert c.ready(cid) == ["jc_cap_report", "jc_issue_ruling"]


def test_cap_report_answered_after_the_ruling_leaves_outcome_and_result_alone(center):
    c = center
    cid = _cap_passed_during_review(c)
    c.complete(cid, "jc_issue_ruling", "judge", {"jc_ruling": "rejected", "jc_reject_reason": "unclear",
                                                 "jc_ruling_date": c.day(0)})
    c.complete(cid, "jc_rejected_followup", "mediator", {"jc_rejected_next": "sue"})
    for task in c.case(cid)["tasks"]:  # the president answers the cap report(s) last
        if task["name"] == "jc_cap_report":
            done = c.post(f"/api/v1/tasks/{task['id']}/complete", "unit_head", {"data": {"jc_cap_action": "已督办"}})
            assert done.status_code == 200
    case = c.case(cid)
    assert case["status"] == "closed"
    assert (case["outcome"], case["data"]["jc_result"]) == ("驳回申请", "rejected")


def _not_performed(c):
    cid = accepted(c)
    valid_ruling(c, cid, performance_due=c.day(29))
    c.complete(cid, "jc_track_performance", "mediator", {"jc_performance": "not_performed"})
    return cid


def test_valid_ruling_not_performed_in_2026_opens_the_enforcement_application(center):
    c = center
    cid = _not_performed(c)  # performance due 31 March 2026; the 2-year window ends 30 March 2028
    task = c.task(cid, "jc_enforcement_application")
    assert task["roles"] == ["enforcement"] and task["due_at"] == end_of("2028-03-30")
    assert c.timers(cid) == {"届满前30日提醒": end_of("2028-02-29"), "2年申请执行期间届满": end_of("2028-03-30")}


@pytest.mark.parametrize("applied", [True, False])
def test_enforcement_application_or_its_two_year_window(center, applied):
    """On a 2025 clock (the 2027 calendar is provisional, so the 2-year ladder can be computed; see the xfail
    above for 2026)."""
    c = center
    c.set_time(china("2025-03-03", 9))
    cid = _not_performed(c)  # performance due 1 April 2025
    # 民诉法 第250条: 2 years from the end of the performance period, counted as 730 natural days
    assert c.timers(cid) == {"届满前30日提醒": end_of("2027-03-02"), "2年申请执行期间届满": end_of("2027-04-01")}
    if applied:
        c.complete(cid, "jc_enforcement_application", "enforcement",
                   {"jc_enforcement_case_no": "(2025)浙0106执100号", "jc_enforcement_filed_date": c.day(40)},
                   forbidden=("mediator", "judge"))
        c.assert_closed(cid, "已申请强制执行")
    else:
        c.drain(china("2027-03-03", 0, 0, 0))
        assert c.ready(cid) == ["jc_enforcement_application", "jc_enforcement_reminder"]
        c.complete(cid, "jc_enforcement_reminder", "mediator", {"jc_enforce_reminder_method": "sms"})
        c.drain(china("2027-04-01", 23, 59, 58))
        assert c.ready(cid) == ["jc_enforcement_application"]
        c.drain(china("2027-04-02", 0, 0, 0))
        # 2027 has no holiday notice yet: the party's window closes only when the supervisor confirms it
        assert [t["kind"] for t in c.case(cid)["tasks"]] == ["bpmn", "expiry"]
        assert c.ready(cid) == ["jc_enforcement_application"]
        [held] = [t for t in c.case(cid)["tasks"] if t["kind"] == "expiry"]
        url, confirmed = f"/api/v1/tasks/{held['id']}/complete", {"data": {"ex_confirm": True}}
        assert c.post(url, "mediator", confirmed).status_code == 403
        assert c.post(url, "supervisor", confirmed).status_code == 200
        c.assert_closed(cid, "申请执行期间届满")
    c.assert_record(cid)


def test_an_application_posted_on_the_last_day_counts_one_posted_after_it_does_not(center):
    """民诉法 第85条 (在途): the window ends 1 April; the parties' application posted that day and recorded on the
    3rd goes to the court; one posted on the 2nd is late: the parties are told they may sue on the agreement."""
    c = center
    in_time = registered(c)
    late = registered(c)
    c.drain(china("2026-04-03", 10))
    c.complete(in_time, "jc_joint_application", "mediator", {"jc_application": "joint",
                                                             "jc_application_date": "2026-04-01"})
    assert "jc_accept" in c.ready(in_time)  # (the day-25 reminder is still open beside it)
    c.complete(late, "jc_joint_application", "mediator", {"jc_application": "joint",
                                                          "jc_application_date": "2026-04-02"})
    assert "jc_advise_lawsuit" in c.ready(late) and "jc_accept" not in c.ready(late)


# ----------------------------------------------------------------------- issue 17 §4: venue and re-filing


def test_venue_includes_the_referring_court_and_the_intermediate_court(center):
    c = center
    case = c.open("judicial_confirmation", "mediator")
    form = {f["id"]: f for f in c.get(f"/api/v1/tasks/{case['tasks'][0]['id']}", "mediator")["form"]}
    venues = {o["id"]: o["name"] for o in form["jc_venue_basis"]["enum"]}
    assert venues["referring_court"] == "委派或邀请调解的人民法院"
    assert venues["intermediate_court"].startswith("中级人民法院")
    c.complete(case["id"], "jc_register_agreement", "mediator", {
        **AGREEMENT, "jc_court_name": "杭州市中级人民法院", "jc_venue_basis": "intermediate_court",
        "agreement_date": c.day(0)})
    assert c.ready(case["id"]) == ["jc_joint_application"]


def test_not_our_court_lets_the_parties_refile_at_the_right_court_within_the_window(center):
    c = center
    cid = registered(c)
    c.complete(cid, "jc_joint_application", "mediator", {"jc_application": "joint", "jc_application_date": c.day(0),
                                                         "jc_applicants": "甲公司、乙公司"})
    task = c.task(cid, "jc_accept")
    assert c.post(f"/api/v1/tasks/{task['id']}/claim", "court_clerk").status_code == 200
    missing = c.post(f"/api/v1/tasks/{task['id']}/complete", "court_clerk", {"data": {
        "jc_accept_decision": "not_accepted", "jc_not_accepted_reason": "no_jurisdiction", "jc_accept_date": c.day(0)}})
    assert missing.status_code == 422 and "jc_correct_court" in str(missing.get_json())
    done = c.post(f"/api/v1/tasks/{task['id']}/complete", "court_clerk", {"data": {
        "jc_accept_decision": "not_accepted", "jc_not_accepted_reason": "no_jurisdiction", "jc_accept_date": c.day(0),
        "jc_correct_court": "拱墅区人民法院"}})
    assert done.status_code == 200, done.get_json()
    assert c.ready(cid) == ["jc_notify_not_accepted"]
    c.complete(cid, "jc_notify_not_accepted", "court_clerk", {"jc_notice_date": c.day(0),
                                                              "jc_notice_note": "告知向拱墅区人民法院申请"})
    # back to the joint application, for the right court, in the same 30-day window (not restarted)
    assert c.ready(cid) == ["jc_joint_application"]
    case = c.case(cid)
    assert case["status"] == "open" and case["data"]["jc_court_name"] == "拱墅区人民法院"
    assert c.task(cid, "jc_joint_application")["due_at"] == end_of("2026-04-01")
    c.complete(cid, "jc_joint_application", "mediator", {"jc_application": "joint", "jc_application_date": c.day(0),
                                                         "jc_applicants": "甲公司、乙公司"})
    assert c.ready(cid) == ["jc_accept"]


def test_not_accepted_for_another_reason_ends(center):
    c = center
    cid = registered(c)
    c.complete(cid, "jc_joint_application", "mediator", {"jc_application": "joint", "jc_application_date": c.day(0),
                                                         "jc_applicants": "甲公司、乙公司"})
    c.complete(cid, "jc_accept", "court_clerk", {"jc_accept_decision": "not_accepted",
                                                 "jc_not_accepted_reason": "property_title", "jc_accept_date": c.day(0)})
    c.complete(cid, "jc_notify_not_accepted", "court_clerk", {"jc_notice_date": c.day(0)})
    case = c.assert_closed(cid, "不予受理")
    assert case["outcome_class"] == "not_accepted"
