"""petition_revisit.bpmn end to end through the API: 登记 → 转送 → 受理 → 办理答复 → 复查 → 复核 → 回访, as the petition
office, the competent body and the review bodies of two levels, on the fixed clock."""
import pytest

from tests.scenario.conftest import COUNTY_CODE, TOWNSHIP_CODE, china, end_of

PETITION = {"channel": "letter", "category": "expropriation", "party_name": "赵六", "party_phone": "13900000000",
            "summary": "征地补偿款未足额发放", "petition_claim": "补足补偿款", "people_involved": 1,
            "petition_no": "浙信〔2026〕0302号"}


def registered(c, office="petition", **extra):
    case = c.open("petition_revisit", office, {"channel": "letter"})
    assert [t["name"] for t in case["tasks"]] == ["pt_register"]
    c.complete(case["id"], "pt_register", office, {**PETITION, "received_date": c.day(0), **extra})
    return case["id"]


def accepted(c, office="petition", body="competent", klass="claim"):
    cid = registered(c, office)
    c.complete(cid, "pt_forward", office, {"forward_decision": "competent", "competent_body_name": "区自然资源局",
                                           "forward_date": c.day(0)}, forbidden=(body,) if body != office else ())
    c.complete(cid, "pt_competence", body, {"competence": "competent"}, forbidden=(office,))
    c.complete(cid, "pt_accept", body, {"accept_decision": "accepted", "accept_date": c.day(0),
                                        "accept_notice_method": "written"})
    c.complete(cid, "pt_classify", body, {"petition_class": klass})
    return cid


def replied(c, cid, opinion, satisfaction, body="competent", rater="revisit", served=None):
    c.complete(cid, "pt_handle", body, {"handle_action": "opinion", "investigation_note": "已调查核实"},
               forbidden=("petition",) if body == "competent" else ())
    served = served or c.day(0)
    c.complete(cid, "pt_reply", body, {"handle_opinion": opinion, "reply_no": "自然资信答〔2026〕1号",
                                       "reply_date": served, "reply_served_date": served})
    c.complete(cid, "pt_rate_satisfaction", rater, {"satisfaction": satisfaction})
    return served


# ------------------------------------------------------------------------------------------- main paths


def test_reply_then_first_and_second_review_closes_the_matter_for_good(center):
    """At a township center: 复查 by the review body as seen from the township, 复核 by the one a level up."""
    c = center
    cid = registered(c, office="t_petition")
    case = c.case(cid)
    assert case["org_unit"] == TOWNSHIP_CODE and case["code"][6:8] == "23"  # township level, letter
    forward = c.task(cid, "pt_forward")
    assert forward["due_at"] == end_of("2026-03-17")  # 信访条例 第22条: 15 days from receipt
    c.complete(cid, "pt_forward", "t_petition", {"forward_decision": "competent", "competent_body_name": "街道城建办",
                                                 "forward_date": c.day(0)}, forbidden=("petition", "t_competent"))
    assert c.timers(cid) == {"5个工作日异议期届满": end_of("2026-03-09")}
    c.complete(cid, "pt_competence", "t_competent", {"competence": "competent"}, forbidden=("competent",))
    assert c.task(cid, "pt_accept")["due_at"] == end_of("2026-03-17")
    c.complete(cid, "pt_accept", "t_competent", {"accept_decision": "accepted", "accept_date": c.day(0),
                                                 "accept_notice_method": "sms"})
    c.complete(cid, "pt_classify", "t_competent", {"petition_class": "claim"})
    # 信访条例 第34条: 60 days from acceptance on 2 March end on 1 May, in the Labour Day holiday: to 6 May
    assert c.task(cid, "pt_handle")["due_at"] == end_of("2026-05-06")
    assert c.timers(cid) == {"60日办理期限届满": end_of("2026-05-06")}
    replied(c, cid, "reject", "dissatisfied", body="t_competent", rater="t_revisit")
    assert c.task(cid, "pt_await_review")["due_at"] == end_of("2026-04-01")
    # 信访条例 第35条: 30 days; the window's timer waits 7 more days for a request posted in time (在途)
    assert c.timers(cid) == {"复查申请期届满": end_of("2026-04-08")}

    c.set_time(china("2026-03-10", 10))
    c.complete(cid, "pt_await_review", "t_review", {"review_request_date": c.day(0), "review_reason": "补偿标准不对",
                                                        "review_request_posted_date": c.day(-1)},
               forbidden=("review", "competent"))
    first = c.task(cid, "pt_first_review")
    assert first["roles"] == ["review_body"] and first["due_at"] == end_of("2026-04-09")
    c.set_time(china("2026-03-20", 10))
    c.complete(cid, "pt_first_review", "t_review", {"review_opinion": "uphold", "review_opinion_date": c.day(0),
                                                    "review_served_date": c.day(0)},
               forbidden=("review", "t_petition", "t_competent"))
    # 信访条例 第36条: 30 days from service on 20 March end on Sunday 19 April: to Monday 20 April
    assert c.task(cid, "pt_await_second_review")["due_at"] == end_of("2026-04-20")
    assert c.timers(cid) == {"复核申请期届满": end_of("2026-04-27")}  # + 7 days 在途
    second_request = c.task(cid, "pt_await_second_review")
    assert sorted(second_request["roles"]) == ["petition_office", "review_body"]
    assert c.listed(cid, "pt_await_second_review", "review") and c.listed(cid, "pt_await_second_review", "t_petition")
    c.set_time(china("2026-03-25", 10))
    c.complete(cid, "pt_await_second_review", "t_petition", {"second_review_request_date": c.day(0),
                                                             "second_review_request_posted_date": c.day(0),
                                                             "second_review_reason": "不服复查意见"},
               forbidden=("t_review",))
    second = c.task(cid, "pt_second_review")
    assert second["due_at"] == end_of("2026-04-24")
    assert c.listed(cid, "pt_second_review", "review") and not c.listed(cid, "pt_second_review", "t_review")
    c.complete(cid, "pt_second_review", "review", {"second_review_opinion": "hearing",
                                                   "second_review_date": c.day(0)},
               forbidden=("t_review", "t_petition"))
    c.complete(cid, "pt_hearing", "review", {"hearing_days": 10, "hearing_record": "听证会记录"},
               forbidden=("t_review",))
    # hearing time is not counted: 10 more days from 24 April end on 4 May, in the holiday: to 6 May
    assert c.task(cid, "pt_second_review")["due_at"] == end_of("2026-05-06")
    c.complete(cid, "pt_second_review", "review", {"second_review_opinion": "uphold", "second_review_date": c.day(0)})
    case = c.assert_closed(cid, "复核终结（不再受理）")
    assert case["data"]["final_stage"] == "second_review" and case["data"]["petition_resolved"] is False
    assert case["org_unit"] == TOWNSHIP_CODE
    events = c.assert_record(cid)
    basis = {e["task"]: e["payload"]["basis"] for e in events if e["type"] == "task_opened"}
    assert "第35条" in basis["复查"] and "第36条" in basis["复核"]


def test_reply_becomes_final_when_no_review_is_asked_then_revisits_find_it_stable(center):
    c = center
    cid = accepted(c)
    c.set_time(china("2026-04-01", 9))
    replied(c, cid, "support", "satisfied", served=c.day(0))
    # 30 days from service on 1 April end on 1 May, in the Labour Day holiday (1–5 May): the window runs to 6 May
    # ... and the timer 7 days later (在途: a request posted by 6 May may still arrive)
    assert c.task(cid, "pt_await_review")["due_at"] == end_of("2026-05-06")
    assert c.timers(cid) == {"复查申请期届满": "2026-05-13T23:59:59+08:00"}
    c.drain(china("2026-05-13", 23, 59, 58))
    assert c.ready(cid) == ["pt_await_review"]
    c.drain(china("2026-05-14", 0, 0, 0))
    assert c.ready(cid) == []
    case = c.case(cid)
    assert case["data"]["petition_resolved"] is True and case["data"]["final_stage"] == "reply"
    # resolved: revisits on day 7 and day 30 (natural days from 办结, which is the end of the window)
    assert c.timers(cid) == {"第7日/第30日": end_of("2026-05-19")}
    c.drain(china("2026-05-20", 9))
    c.complete(cid, "pt_revisit", "revisit", {"petitioner_mood": "stable", "rebound_risk": "low"},
               forbidden=("petition", "competent"))
    assert c.timers(cid) == {"第7日/第30日": end_of("2026-06-11")}
    c.drain(china("2026-06-12", 9))
    c.complete(cid, "pt_revisit", "revisit", {"petitioner_mood": "stable", "rebound_risk": "medium"})
    c.assert_closed(cid, "已化解（回访稳定）")
    events = c.assert_record(cid)
    assert [e["payload"]["command"]["timer"] for e in events if e["type"] == "timer_fired"] == \
        ["复查申请期届满", "第7日/第30日", "第7日/第30日"]


def test_review_opinion_becomes_final_when_no_second_review_is_asked(center):
    c = center
    cid = accepted(c)
    replied(c, cid, "explain", "dissatisfied")
    c.complete(cid, "pt_await_review", "petition", {"review_request_date": c.day(0), "review_reason": "不服答复",
                                                    "review_request_posted_date": c.day(0)})
    c.complete(cid, "pt_first_review", "review", {"review_opinion": "uphold", "review_opinion_date": c.day(0),
                                                  "review_served_date": c.day(0)}, forbidden=("petition",))
    assert c.timers(cid) == {"复核申请期届满": end_of("2026-04-08")}
    c.drain(china("2026-04-08", 23, 59, 58))
    assert c.ready(cid) == ["pt_await_second_review"]
    c.drain(china("2026-04-09", 0, 0, 0))
    case = c.assert_closed(cid, "复查意见终结（未申请复核）")
    assert case["data"]["final_stage"] == "review"
    c.assert_record(cid)


def test_mediation_with_judicial_confirmation_then_high_risk_revisit_opens_a_dispute_case(center):
    c = center
    cid = accepted(c)
    c.complete(cid, "pt_handle", "competent", {"handle_action": "mediate"})
    mediation = c.task(cid, "pt_mediation")
    assert sorted(mediation["roles"]) == ["competent_body", "mediator"]
    c.complete(cid, "pt_mediation", "mediator", {
        "pt_mediation_result": "agreement", "agreement_no": "信调〔2026〕3号", "agreement_date": c.day(0),
        "mediation_org": "区信访人民调解委员会", "agreement_content": "补足补偿款8万元", "performance_due_date": c.day(20),
        "want_confirmation": True}, forbidden=("petition", "review"))
    assert c.ready(cid) == ["jc_register_agreement"]
    c.complete(cid, "jc_register_agreement", "mediator", {
        "agreement_no": "信调〔2026〕3号", "agreement_date": c.day(0), "mediation_org": "区信访人民调解委员会",
        "jc_court_name": "西湖区人民法院", "jc_venue_basis": "subject_location"})
    c.complete(cid, "jc_joint_application", "mediator", {"jc_application": "joint", "jc_application_date": c.day(0)})
    c.complete(cid, "jc_accept", "court_clerk", {"jc_accept_decision": "accepted", "jc_accept_date": c.day(0)},
               forbidden=("competent",))
    c.complete(cid, "jc_review", "judge", {"jc_review_decision": "ready", "jc_supplement_days": 7})
    c.complete(cid, "jc_issue_ruling", "judge", {"jc_ruling": "valid", "jc_ruling_date": c.day(0)},
               forbidden=("competent", "court_clerk"))
    c.complete(cid, "jc_serve_ruling", "court_clerk", {"jc_served_date": c.day(0), "performance_due_date": c.day(20)})
    c.complete(cid, "jc_track_performance", "mediator", {"jc_performance": "performed"})
    case = c.case(cid)
    assert [t["name"] for t in case["tasks"] if t["kind"] == "bpmn"] == ["pt_rate_satisfaction"]
    assert case["data"]["jc_result"] == "valid" and case["data"]["final_stage"] == "agreement"
    c.complete(cid, "pt_rate_satisfaction", "petition", {"satisfaction": "basically_satisfied"})
    # a mediated agreement is not open to 复查: it is resolved and revisited
    assert c.timers(cid) == {"第7日/第30日": end_of("2026-03-08")}
    c.drain(china("2026-03-09", 9))
    c.complete(cid, "pt_revisit", "revisit", {"petitioner_mood": "agitated", "rebound_risk": "high",
                                              "revisit_note": "扬言到省上访"})
    meeting = c.task(cid, "pt_risk_meeting")
    assert sorted(meeting["roles"]) == ["director", "petition_office", "screener"]
    c.complete(cid, "pt_risk_meeting", "director", {"risk_measures": "领导包案，另立化解案件", "reopen_case": True},
               forbidden=("revisit", "competent"))
    source = c.assert_closed(cid, "高风险另立化解案件")
    events = c.assert_record(cid)
    [linked_event] = [e for e in events if e["type"] == "case_linked"]
    new = c.case(linked_event["payload"]["case_id"])
    assert new["linked_case_id"] == cid and new["link_kind"] == "reopened"
    assert new["process_id"] == "dispute" and new["status"] == "open" and new["org_unit"] == COUNTY_CODE
    assert new["data"]["repeat"] is True and new["data"]["linked_from"] == source["code"]
    assert new["data"]["party_name"] == "赵六"
    assert [t["name"] for t in new["tasks"]] == ["register"] and c.listed(new["id"], "register", "clerk")


def test_forwarded_to_discipline_closes_at_forward(center):
    c = center
    cid = registered(c, office="clerk")  # the intake clerk may register a petition too
    c.complete(cid, "pt_forward", "petition", {"forward_decision": "discipline", "competent_body_name": "区纪委监委",
                                               "forward_date": c.day(0)}, forbidden=("clerk",))
    c.assert_closed(cid, "检举控告转纪检监察")
    c.assert_record(cid)


def test_petition_involving_litigation_goes_to_the_chosen_political_legal_organ(center):
    """涉法涉诉: the petition office forwards it to the court (or procuratorate, police, justice bureau), which
    handles it by law and reports back; the case closes on that report, not at forward."""
    c = center
    cid = registered(c, office="clerk")
    task = c.task(cid, "pt_forward")
    assert c.post(f"/api/v1/tasks/{task['id']}/claim", "petition").status_code == 200
    missing = c.post(f"/api/v1/tasks/{task['id']}/complete", "petition", {"data": {
        "forward_decision": "political_legal", "competent_body_name": "区人民法院", "forward_date": c.day(0)}})
    assert missing.status_code == 422 and "political_legal_role" in str(missing.get_json())
    c.post(f"/api/v1/tasks/{task['id']}/unclaim", "petition")
    c.complete(cid, "pt_forward", "petition", {"forward_decision": "political_legal", "political_legal_role": "dept_court",
                                               "competent_body_name": "区人民法院", "forward_date": c.day(0)})
    handle = c.task(cid, "pt_political_legal")
    assert handle["roles"] == ["dept_court"] and handle["due_at"] == end_of("2026-05-06")  # 60 days (劳动节)
    c.complete(cid, "pt_political_legal", "court", {"political_legal_result": "in_procedure",
                                                    "political_legal_date": c.day(0)}, forbidden=("petition",))
    case = c.assert_closed(cid, "涉法涉诉已由政法机关依法处理")
    assert case["outcome_class"] == "transferred"


@pytest.mark.parametrize("klass,task,form,end", [
    ("suggestion", "pt_study_suggestion",
     {"suggestion_adopted": "partly_adopted", "suggestion_reply_date": "2026-03-20"}, "意见建议已答复"),
    ("claim_statutory", "pt_guide_statutory",
     {"statutory_route": "admin_review", "statutory_notice_date": "2026-03-05"}, "告知依法定途径解决"),
    ("accusation", None, None, "检举控告转纪检监察"),
])
def test_petition_classes(center, klass, task, form, end):
    c = center
    cid = accepted(c, klass=klass)
    if task:
        c.complete(cid, task, "competent", form, forbidden=("petition",))
    c.assert_closed(cid, end)
    c.assert_record(cid)


def test_same_matter_already_handled_is_not_accepted(center):
    c = center
    cid = registered(c)
    c.complete(cid, "pt_forward", "petition", {"forward_decision": "competent", "competent_body_name": "区自然资源局",
                                               "forward_date": c.day(0)})
    c.complete(cid, "pt_competence", "competent", {"competence": "competent"})
    c.complete(cid, "pt_accept", "competent", {"accept_decision": "duplicate", "accept_date": c.day(1),
                                               "accept_notice_method": "written"}, forbidden=("petition",))
    c.assert_closed(cid, "不予受理（同一事项正在办理）")
    c.assert_record(cid)


def test_objection_sends_it_back_then_silence_for_five_working_days_means_competent(center):
    c = center
    cid = registered(c)
    c.complete(cid, "pt_forward", "petition", {"forward_decision": "competent", "competent_body_name": "区住建局",
                                               "forward_date": c.day(0)})
    c.complete(cid, "pt_competence", "competent", {"competence": "objection", "objection_reason": "不属本局职责"})
    assert c.ready(cid) == ["pt_forward"] and c.case(cid)["data"]["forward_rounds"] == 1
    c.set_time(china("2026-03-04", 9))  # a Wednesday
    c.complete(cid, "pt_forward", "petition", {"forward_decision": "competent", "competent_body_name": "区自然资源局",
                                               "forward_date": c.day(0)})
    # 信访条例 第23条: 5 working days from 4 March: 5, 6, 9, 10, 11 March
    assert c.timers(cid) == {"5个工作日异议期届满": end_of("2026-03-11")}
    c.drain(china("2026-03-11", 23, 59, 58))
    assert c.ready(cid) == ["pt_competence"]
    c.drain(china("2026-03-12", 9))
    assert c.ready(cid) == ["pt_accept"]
    c.complete(cid, "pt_accept", "competent", {"accept_decision": "duplicate", "accept_date": c.day(0),
                                               "accept_notice_method": "written"})
    c.assert_closed(cid, "不予受理（同一事项正在办理）")
    events = c.assert_record(cid)
    assert "职责审查" in [e["task"] for e in events if e["type"] == "task_cancelled"]


def test_failed_mediation_extension_and_overdue_supervision_then_reply_final(center):
    c = center
    cid = accepted(c)
    c.complete(cid, "pt_handle", "competent", {"handle_action": "mediate"})
    c.complete(cid, "pt_mediation", "competent", {"pt_mediation_result": "no_agreement", "want_confirmation": False})
    c.complete(cid, "pt_handle", "competent", {"handle_action": "extend"})
    approve = c.task(cid, "pt_approve_extension")
    assert approve["roles"] == ["competent_body_head"] and approve["org_unit"] == COUNTY_CODE
    c.complete(cid, "pt_approve_extension", "competent_head", {"handling_extended": True,
                                                               "extension_notice_date": c.day(0),
                                                               "extension_reason": "需委托评估"},
               forbidden=("competent", "petition", "unit_head"))  # the body's own head, not the center's
    # 信访条例 第34条: extended by 30 days: 90 days from 2 March end on Sunday 31 May, so Monday 1 June
    assert c.task(cid, "pt_handle")["due_at"] == end_of("2026-06-01")
    assert c.timers(cid) == {"60日办理期限届满": end_of("2026-06-01")}
    c.complete(cid, "pt_handle", "competent", {"handle_action": "mediate"})
    c.complete(cid, "pt_mediation", "mediator", {"pt_mediation_result": "no_agreement", "want_confirmation": False})
    c.complete(cid, "pt_handle", "competent", {"handle_action": "mediate"})  # two rounds were enough: reply
    assert c.ready(cid) == ["pt_reply"]
    c.drain(china("2026-06-01", 23, 59, 58))
    assert c.ready(cid) == ["pt_reply"]
    c.drain(china("2026-06-02", 9))  # 信访条例 第40条: overdue → the petition office issues a 督办单
    assert c.ready(cid) == ["pt_reply", "pt_supervision_notice"]
    c.complete(cid, "pt_supervision_notice", "petition", {"supervision_no": "督〔2026〕12号",
                                                          "supervision_date": c.day(0)}, forbidden=("competent",))
    answer = c.task(cid, "pt_supervision_answer")
    assert answer["roles"] == ["competent_body"] and answer["due_at"] == end_of("2026-06-04")  # 2 working days
    c.complete(cid, "pt_supervision_answer", "competent", {"supervision_answer": "已完成调查，3日内答复"},
               forbidden=("petition",))
    assert c.ready(cid) == ["pt_reply"]
    c.complete(cid, "pt_reply", "competent", {"handle_opinion": "reject", "reply_date": c.day(0),
                                              "reply_served_date": c.day(0)})
    c.complete(cid, "pt_rate_satisfaction", "revisit", {"satisfaction": "dissatisfied"})
    assert c.timers(cid) == {"复查申请期届满": end_of("2026-07-09")}
    c.drain(china("2026-07-10", 0, 0, 0))
    case = c.assert_closed(cid, "答复意见终结（未申请复查）")
    assert case["data"]["handling_extended"] is True and case["data"]["petition_resolved"] is False
    c.assert_record(cid)


def test_only_petition_intake_roles_open_a_petition(center):
    c = center
    for user in ("competent", "review", "mediator", "auditor"):
        response = c.post("/api/v1/cases", user, {"process_id": "petition_revisit", "data": {}})
        assert response.status_code == 403, user


# ------------------------------------------------------------------------------ 在途: requests posted in time


def test_a_review_request_posted_on_the_last_day_and_received_after_the_window_counts(center):
    """民诉法 第85条: 在途时间不计入期间. The window's last day is 1 April; the letter, posted that day, arrives
    on 3 April: it is registered with its postmark and goes to 复查."""
    c = center
    cid = accepted(c)
    replied(c, cid, "reject", "dissatisfied")
    assert c.task(cid, "pt_await_review")["due_at"] == end_of("2026-04-01")
    c.drain(china("2026-04-03", 10))
    assert c.ready(cid) == ["pt_await_review"]  # still open: the 在途 days after the window
    c.complete(cid, "pt_await_review", "petition", {"review_request_date": c.day(0), "review_reason": "不服答复",
                                                    "review_request_posted_date": "2026-04-01"})
    assert c.ready(cid) == ["pt_first_review"]
    data = c.case(cid)["data"]
    assert data["review_in_time"] is True and data["final_stage"] == "review"


def test_a_review_request_posted_after_the_window_is_not_accepted_and_the_reply_stands(center):
    c = center
    cid = accepted(c)
    replied(c, cid, "reject", "dissatisfied")
    c.drain(china("2026-04-03", 10))
    c.complete(cid, "pt_await_review", "petition", {"review_request_date": c.day(0), "review_reason": "不服答复",
                                                    "review_request_posted_date": "2026-04-02"})
    case = c.assert_closed(cid, "答复意见终结（未申请复查）")
    assert case["data"]["review_in_time"] is False and case["data"]["final_stage"] == "reply"
    c.assert_record(cid)


def test_a_second_review_request_posted_late_leaves_the_review_opinion_final(center):
    c = center
    cid = accepted(c)
    replied(c, cid, "explain", "dissatisfied")
    c.complete(cid, "pt_await_review", "petition", {"review_request_date": c.day(0), "review_reason": "不服答复",
                                                    "review_request_posted_date": c.day(0)})
    c.complete(cid, "pt_first_review", "review", {"review_opinion": "uphold", "review_opinion_date": c.day(0),
                                                  "review_served_date": c.day(0)})
    c.drain(china("2026-04-06", 10))
    c.complete(cid, "pt_await_second_review", "petition", {"second_review_request_date": c.day(0),
                                                           "second_review_request_posted_date": "2026-04-02",
                                                           "second_review_reason": "不服复查意见"})
    case = c.case(cid)
    assert case["data"]["second_review_in_time"] is False and case["data"]["final_stage"] == "review"
    assert "pt_second_review" not in c.ready(cid)


# ------------------------------------------------------------------------------- issue 17 §4 (petitions)


def test_an_approved_extension_needs_the_written_notice(center):
    c = center
    cid = accepted(c)
    c.complete(cid, "pt_handle", "competent", {"handle_action": "extend"})
    task = c.task(cid, "pt_approve_extension")
    assert c.post(f"/api/v1/tasks/{task['id']}/claim", "competent_head").status_code == 200
    missing = c.post(f"/api/v1/tasks/{task['id']}/complete", "competent_head", {"data": {
        "handling_extended": True, "extension_reason": "需委托评估"}})
    assert missing.status_code == 422 and "extension_notice_date" in str(missing.get_json())
    # refused: no notice needed (the field does not apply)
    done = c.post(f"/api/v1/tasks/{task['id']}/complete", "competent_head", {"data": {
        "handling_extended": False, "extension_reason": "无需延期"}})
    assert done.status_code == 200, done.get_json()
    assert c.ready(cid) == ["pt_handle"] and c.task(cid, "pt_handle")["due_at"] == end_of("2026-05-06")


def test_a_changed_review_opinion_is_the_final_resolution(center):
    """复查 changes 不予支持 to 支持: the petition is resolved (revisits), not closed as 复查意见终结."""
    c = center
    cid = accepted(c)
    served = replied(c, cid, "reject", "dissatisfied")
    c.complete(cid, "pt_await_review", "review", {"review_request_date": served, "review_reason": "补偿标准不对",
                                                  "review_request_posted_date": served})
    c.complete(cid, "pt_first_review", "review", {"review_opinion": "change", "review_new_opinion": "support",
                                                  "review_opinion_date": c.day(0), "review_served_date": c.day(0)})
    c.drain(china("2026-04-30", 9))  # no 复核 requested: the window closes (30 days + 在途)
    case = c.case(cid)
    assert case["data"]["final_opinion"] == "support" and case["data"]["petition_resolved"] is True
    assert c.ready(cid) == ["pt_revisit"]  # resolved: the day-7 revisit (fired by now)


def test_an_upheld_review_opinion_closes_unresolved(center):
    c = center
    cid = accepted(c)
    served = replied(c, cid, "reject", "dissatisfied")
    c.complete(cid, "pt_await_review", "review", {"review_request_date": served, "review_reason": "不服",
                                                  "review_request_posted_date": served})
    c.complete(cid, "pt_first_review", "review", {"review_opinion": "uphold", "review_opinion_date": c.day(0),
                                                  "review_served_date": c.day(0)})
    c.drain(china("2026-04-30", 9))
    case = c.assert_closed(cid, "复查意见终结（未申请复核）")
    assert case["outcome_class"] == "unresolved" and case["data"]["final_opinion"] == "reject"


def test_county_case_review_and_second_review_are_different_bodies(center):
    """A county petition: 复查 by the county's review body, 复核 by the city's (the level above), never the same."""
    c = center
    cid = accepted(c)
    assert c.case(cid)["org_unit"] == COUNTY_CODE
    served = replied(c, cid, "reject", "dissatisfied")
    c.complete(cid, "pt_await_review", "review", {"review_request_date": served, "review_reason": "不服",
                                                  "review_request_posted_date": served})
    c.complete(cid, "pt_first_review", "review", {"review_opinion": "uphold", "review_opinion_date": c.day(0),
                                                  "review_served_date": c.day(0)}, forbidden=("c_review",))
    c.complete(cid, "pt_await_second_review", "petition", {"second_review_request_date": c.day(0),
                                                           "second_review_request_posted_date": c.day(0),
                                                           "second_review_reason": "不服复查意见"})
    second = c.task(cid, "pt_second_review")
    assert second["roles"] == ["review_body"] and second["org_unit"] != COUNTY_CODE
    c.complete(cid, "pt_second_review", "c_review", {"second_review_opinion": "change",
                                                     "second_review_new_opinion": "support",
                                                     "second_review_date": c.day(0)}, forbidden=("review",))
    case = c.case(cid)
    assert case["data"]["final_opinion"] == "support" and case["data"]["petition_resolved"] is True


def test_assigned_petition_reports_its_completion_by_the_set_date(center):
    """交办 (信访工作条例 第22条): the assigning office sets a 办结报告 deadline; after the reply the competent body
    reports completion by then. A plain 转送 has no report."""
    c = center
    cid = registered(c)
    task = c.task(cid, "pt_forward")
    assert c.post(f"/api/v1/tasks/{task['id']}/claim", "petition").status_code == 200
    missing = c.post(f"/api/v1/tasks/{task['id']}/complete", "petition", {"data": {
        "forward_decision": "competent", "forward_mode": "assign", "competent_body_name": "区自然资源局",
        "forward_date": c.day(0)}})
    assert missing.status_code == 422 and "report_due_date" in str(missing.get_json())
    c.post(f"/api/v1/tasks/{task['id']}/unclaim", "petition")
    c.complete(cid, "pt_forward", "petition", {"forward_decision": "competent", "forward_mode": "assign",
                                               "report_due_date": "2026-04-20", "competent_body_name": "区自然资源局",
                                               "forward_date": c.day(0)})
    c.complete(cid, "pt_competence", "competent", {"competence": "competent"})
    c.complete(cid, "pt_accept", "competent", {"accept_decision": "accepted", "accept_date": c.day(0),
                                               "accept_notice_method": "written"})
    c.complete(cid, "pt_classify", "competent", {"petition_class": "claim"})
    c.complete(cid, "pt_handle", "competent", {"handle_action": "opinion"})
    c.complete(cid, "pt_reply", "competent", {"handle_opinion": "support", "reply_no": "答〔2026〕2号",
                                              "reply_date": c.day(0), "reply_served_date": c.day(0)})
    report = c.task(cid, "pt_completion_report")
    assert report["roles"] == ["competent_body"] and report["due_at"] == end_of("2026-04-20")
    c.complete(cid, "pt_completion_report", "competent", {"completion_report_date": c.day(0),
                                                          "completion_report": "已支持诉求并书面答复"},
               forbidden=("petition",))
    assert c.ready(cid) == ["pt_rate_satisfaction"]


def test_transferred_petition_has_no_completion_report(center):
    c = center
    cid = accepted(c)
    replied(c, cid, "support", "satisfied")
    assert not any(e["task"] == "报送办结报告" for e in c.events(cid))


def test_a_township_petition_extension_is_approved_by_that_bodys_own_head(center):
    """信访工作条例 第34条 经本机关负责人批准: the head of the body handling the petition (here at the township),
    not the county's head of the same role nor a center's unit_head."""
    c = center
    cid = registered(c, office="t_petition")
    c.complete(cid, "pt_forward", "t_petition", {"forward_decision": "competent", "competent_body_name": "北山街道办事处",
                                                 "forward_date": c.day(0)})
    c.complete(cid, "pt_competence", "t_competent", {"competence": "competent"})
    c.complete(cid, "pt_accept", "t_competent", {"accept_decision": "accepted", "accept_date": c.day(0),
                                                 "accept_notice_method": "written"})
    c.complete(cid, "pt_classify", "t_competent", {"petition_class": "claim"})
    c.complete(cid, "pt_handle", "t_competent", {"handle_action": "extend"})
    approve = c.task(cid, "pt_approve_extension")
    assert approve["roles"] == ["competent_body_head"] and approve["org_unit"] == TOWNSHIP_CODE
    assert c.listed(cid, "pt_approve_extension", "t_competent_head")
    c.complete(cid, "pt_approve_extension", "t_competent_head",
               {"handling_extended": True, "extension_notice_date": c.day(0), "extension_reason": "需现场勘验"},
               forbidden=("competent_head", "unit_head", "t_competent"))
    assert c.case(cid)["data"]["handling_extended"] is True
    c.assert_record(cid)
