"""dispute.bpmn end to end through the API: 受理 → 研判 → 分流 → 调处 → 反馈 → 回访, as the center's users, on the
fixed clock (Monday 2026-03-02 09:00 China time unless a test moves it)."""
from datetime import date, timedelta

import pytest

from tests.scenario.conftest import CITY_CODE, COUNTY_CODE, TOWNSHIP_CODE, VILLAGE_CODE, china, end_of

REGISTER = {"channel": "walk_in", "category": "neighbourhood", "party_name": "张三", "party_phone": "13800000000",
            "other_party": "李四", "summary": "相邻通行纠纷，双方多次争吵", "people_involved": 2, "first_officer": "王窗口"}
AGREE = {"mediation_consent": "agree", "escalation_risk": "none"}


def register(c, user="clerk", **extra):
    data = {**REGISTER, "received_date": c.day(0), **extra}
    case = c.open("dispute", user, {"channel": data["channel"]})  # the channel goes into the case code
    assert [t["name"] for t in case["tasks"]] == ["register"] and case["status"] == "open"
    c.complete(case["id"], "register", user, data)
    return case["id"]


def to_mediation(c, tier="ordinary", handling_dept="mediator", mediation_type="people", screener="screener",
                 **extra):
    cid = register(c, **extra)
    c.complete(cid, "screen", screener, {**AGREE, "tier": tier})
    c.complete(cid, "dispatch", screener, {"dispatch_route": "handle", "handling_dept": handling_dept,
                                           "mediation_type": mediation_type})
    return cid


def sign(c, cid, user="mediator", confirm=False, performance_days=10):
    c.complete(cid, "sign_agreement", user, {
        "agreement_no": "西调字〔2026〕第15号", "agreement_date": c.day(0), "mediation_org": "西湖区人民调解委员会",
        "agreement_content": "李四让出通道并赔偿2000元", "performance_mode": "by_deadline",
        "performance_due_date": c.day(performance_days), "want_confirmation": confirm})


def confirm_until_ruling(c, cid, ruling, **ruling_extra):
    """The judicial confirmation the dispute calls, up to the ruling (the called process's tasks)."""
    c.complete(cid, "jc_register_agreement", "mediator", {
        "agreement_no": "西调字〔2026〕第15号", "agreement_date": c.day(0), "mediation_org": "西湖区人民调解委员会",
        "jc_court_name": "西湖区人民法院", "jc_venue_basis": "mediation_org_location"}, forbidden=("clerk", "judge"))
    c.complete(cid, "jc_joint_application", "mediator", {"jc_application": "joint", "jc_application_date": c.day(0),
                                                         "jc_applicants": "张三、李四"})
    c.complete(cid, "jc_accept", "court_clerk", {"jc_accept_decision": "accepted", "jc_accept_date": c.day(0)},
               forbidden=("mediator", "judge"))
    c.complete(cid, "jc_review", "judge", {"jc_review_decision": "ready", "jc_supplement_days": 7,
                                          "jc_parties_present": True}, forbidden=("court_clerk",))
    c.complete(cid, "jc_issue_ruling", "judge", {"jc_ruling": ruling, "jc_ruling_date": c.day(0), **ruling_extra},
               forbidden=("court_clerk", "mediator"))


def linked_jc(c, cid) -> int:
    """The 司法确认 case the dispute opened (jiefen.open_case on 另立司法确认案件), checked as linked to it."""
    [linked] = [e["payload"]["case_id"] for e in c.events(cid) if e["type"] == "case_linked"]
    jc = c.case(linked)
    assert (jc["process_id"], jc["linked_case_id"], jc["link_kind"]) == ("judicial_confirmation", cid, "confirmation")
    return linked


def feedback_and_day1(c, cid, satisfaction="satisfied", clerk="clerk"):
    """结果反馈 today (by `clerk`, at the unit that registered the case); the day-1 satisfaction call opens when
    the feedback day is over."""
    feedback_day = c.day(0)
    c.complete(cid, "feedback", clerk, {"feedback_date": feedback_day, "feedback_method": "phone"},
               forbidden=("mediator", "revisit"))
    assert c.ready(cid) == [] and c.timers(cid) == {"第1日": end_of(feedback_day)}
    c.drain(china(feedback_day, 23, 59, 58))
    assert c.ready(cid) == []
    c.drain(china(date.fromisoformat(feedback_day) + timedelta(days=1), 9))
    c.complete(cid, "satisfaction_call", "revisit", {"satisfaction": satisfaction}, forbidden=("clerk",))
    return feedback_day


# ------------------------------------------------------------------------------------------- main paths


def test_agreement_confirmed_valid_then_revisited_resolved(center):
    c = center
    cid = register(c)
    case = c.case(cid)
    assert case["org_unit"] == COUNTY_CODE and case["code"].startswith("3301061" + "1" + "2026")
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "ordinary", "screen_note": "事实清楚"},
               forbidden=("clerk", "mediator"))
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "mediator",
                                             "mediation_type": "people"}, forbidden=("clerk",))
    mediate = c.task(cid, "mediate")
    assert mediate["roles"] == ["mediator"] and mediate["due_at"] == end_of("2026-03-09")  # ordinary: 7 days
    c.complete(cid, "mediate", "mediator", {"mediation_result": "agreement", "mediation_sessions": 2},
               forbidden=("screener", "grassroots", "labour"))
    sign(c, cid, confirm=True)
    # 司法确认 is a linked case of its own: the dispute goes on to 结果反馈 at once (issue 17 §4)
    jc = linked_jc(c, cid)
    assert c.ready(cid) == ["feedback"] and c.ready(jc) == ["jc_register_agreement"]
    assert c.case(jc)["data"]["agreement_no"] == "西调字〔2026〕第15号"  # the linked case has the case data
    case = c.case(cid)
    assert case["data"]["jc_result"] == "linked" and case["data"]["closure_type"] == "resolved"
    confirm_until_ruling(c, jc, "valid", jc_ruling_no="(2026)浙0106民特12号")
    c.complete(jc, "jc_serve_ruling", "court_clerk", {"jc_served_date": c.day(0), "performance_due_date": c.day(10)})
    c.complete(jc, "jc_track_performance", "mediator", {"jc_performance": "by_revisit"})
    assert c.case(jc)["data"]["jc_result"] == "valid"

    feedback_day = feedback_and_day1(c, cid)
    # day 7 and day 30 performance revisits (natural days from the feedback date)
    assert c.timers(cid) == {"第7日/第30日": end_of("2026-03-08")}
    c.drain(china("2026-03-09", 0, 0, 1))
    c.complete(cid, "revisit_check", "revisit", {"performance_status": "performing"}, forbidden=("mediator",))
    assert c.timers(cid) == {"第7日/第30日": end_of("2026-03-31")}
    c.drain(china("2026-03-31", 23, 59, 58))
    assert c.ready(cid) == []
    c.drain(china("2026-04-01", 0, 0, 1))
    c.complete(cid, "revisit_check", "revisit", {"performance_status": "performed", "revisit_note": "已全部履行"})
    case = c.assert_closed(cid, "已化解")
    assert case["data"]["revisit_round"] == 2 and feedback_day == "2026-03-02"
    events = c.assert_record(cid)
    by_type = {e["type"] for e in events}
    assert {"case_started", "task_opened", "task_claimed", "task_completed", "timer_fired", "case_closed"} <= by_type
    fired = [e for e in events if e["type"] == "timer_fired"]
    assert [e["actor"] for e in fired] == ["system"] * 3
    closed = events[-1]
    assert closed["type"] == "case_closed" and closed["payload"]["outcome"] == "已化解"


def test_rejected_ruling_is_recorded_in_the_linked_case_while_the_dispute_closes(center):
    c = center
    cid = to_mediation(c)
    c.complete(cid, "mediate", "mediator", {"mediation_result": "agreement"})
    sign(c, cid, confirm=True)
    jc = linked_jc(c, cid)
    feedback_and_day1(c, cid)  # the dispute does not wait for the court
    confirm_until_ruling(c, jc, "rejected", jc_reject_reason="unclear")
    assert c.case(jc)["data"]["jc_result"] == "rejected"
    c.complete(jc, "jc_rejected_followup", "mediator", {"jc_rejected_next": "sue"}, forbidden=("judge",))
    case = c.assert_closed(jc, "驳回申请")
    assert case["outcome_class"] == "unresolved"
    assert c.case(cid)["status"] == "open" and c.timers(cid) == {"第7日/第30日": end_of("2026-03-08")}


def test_redispatch_then_no_agreement_closes_with_channels(center):
    c = center
    cid = to_mediation(c, tier="simple", handling_dept="dept_justice")
    c.complete(cid, "mediate", "justice", {"mediation_result": "redispatch", "mediation_record": "非本部门职责"},
               forbidden=("mediator",))
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "dept_civil_affairs",
                                             "mediation_type": "administrative"})
    assert c.task(cid, "mediate")["roles"] == ["dept_civil_affairs"]
    c.complete(cid, "mediate", "civil", {"mediation_result": "no_agreement"}, forbidden=("justice",))
    c.complete(cid, "terminate_mediation", "civil", {"termination_reason": "一方不再配合",
                                                     "guided_channel": "admin_ruling"})
    feedback_and_day1(c, cid, satisfaction="no_rating")
    c.assert_closed(cid, "未化解（已告知救济途径）")
    c.assert_record(cid)


def test_refusal_of_mediation_is_guided_elsewhere_and_closed(center):
    c = center
    cid = register(c, channel="phone")
    c.complete(cid, "screen", "screener", {"mediation_consent": "refused", "escalation_risk": "none",
                                           "tier": "simple"})
    assert c.ready(cid) == ["guide_channels"]
    guide = c.task(cid, "guide_channels")
    assert guide["roles"] == ["intake_clerk"] and guide["due_at"] == end_of("2026-03-03")  # 1 working day
    c.complete(cid, "guide_channels", "clerk", {"guided_channel": "arbitration", "guidance_note": "告知申请仲裁"},
               forbidden=("screener", "mediator"))
    case = c.assert_closed(cid, "不同意调解（已引导其他途径）")
    assert case["channel"] == "phone" and case["code"][7] == "2"
    events = c.assert_record(cid)
    guide_opened = next(e for e in events if e["type"] == "task_opened" and e["task"] == "引导其他途径")
    assert "人民调解法 第17条" in guide_opened["payload"]["basis"]


def test_escalation_risk_goes_to_police_and_is_flagged_high_risk(center):
    c = center
    cid = register(c)
    c.complete(cid, "screen", "screener", {"mediation_consent": "agree", "escalation_risk": "high", "tier": "major"})
    case = c.case(cid)
    assert case["data"]["high_risk"] is True
    [police] = [t for t in case["tasks"] if t["kind"] == "bpmn"]
    assert police["name"] == "report_police" and police["roles"] == ["dept_police"]
    assert police["due_at"] == "2026-03-02T11:00:00+08:00"  # 2 hours
    assert c.listed(cid, "report_police", "police") and not c.listed(cid, "report_police", "screener")
    c.complete(cid, "report_police", "police", {"police_disposition": "police_case", "police_measures": "传唤双方",
                                                "police_unit": "北山派出所"}, forbidden=("screener", "court"))
    case = c.assert_closed(cid, "转公安依法处理")
    assert case["data"]["high_risk"] is True
    events = c.assert_record(cid)
    opened = next(e for e in events if e["type"] == "task_opened" and e["task"] == "公安介入稳控")
    assert "第25条" in opened["payload"]["basis"]


def test_stabilised_high_risk_major_dispute_goes_to_the_leader_and_task_force(center):
    c = center
    cid = register(c, category="expropriation", people_involved=40)
    c.complete(cid, "screen", "screener", {"mediation_consent": "agree", "escalation_risk": "high", "tier": "major"})
    c.complete(cid, "report_police", "police", {"police_disposition": "stabilized", "police_measures": "民警驻点"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "dept_housing",
                                             "mediation_type": "administrative"})
    c.complete(cid, "leader_takes_case", "director", {"lead_leader": "王副区长", "task_force_members": "住建、信访、街道"},
               forbidden=("screener", "taskforce"))
    mediate = c.task(cid, "mediate")
    assert mediate["roles"] == ["director", "task_force"] and mediate["due_at"] == end_of("2026-04-01")
    c.complete(cid, "mediate", "taskforce", {"mediation_result": "agreement"}, forbidden=("housing", "mediator"))
    sign(c, cid, user="taskforce")
    feedback_and_day1(c, cid)
    c.drain(china("2026-03-09", 0, 0, 1))
    c.complete(cid, "revisit_check", "revisit", {"performance_status": "performed"})
    c.drain(china("2026-04-01", 0, 0, 1))
    c.complete(cid, "revisit_check", "revisit", {"performance_status": "performed"})
    case = c.assert_closed(cid, "已化解")
    assert case["data"]["high_risk"] is True and case["tier"] == "major"
    c.assert_record(cid)


@pytest.mark.parametrize("tier,dept,extra_step,roles,doers,not_doers,due", [
    ("simple", "dept_housing", None, ["dept_housing"], ["housing"], ["mediator", "taskforce"], "2026-03-03"),
    ("ordinary", "dept_housing", None, ["mediator"], ["mediator"], ["housing", "taskforce"], "2026-03-09"),
    ("complex", "dept_hrss", ("organize_joint", "director", {"co_depts": ["dept_union"]}),
     ["dept_hrss", "mediator"], ["labour", "mediator"], ["housing", "taskforce"],
     "2026-03-23"),  # 20 days end on Sunday 22 March: the next working day
    ("major", "dept_housing", ("leader_takes_case", "director", {"lead_leader": "王副区长",
                                                                 "task_force_members": "住建、街道"}),
     ["director", "task_force"], ["taskforce", "director"], ["housing", "mediator"], "2026-04-01"),
])
def test_each_tier_dispatches_to_the_right_role(center, tier, dept, extra_step, roles, doers, not_doers, due):
    c = center
    cid = to_mediation(c, tier=tier, handling_dept=dept)
    if extra_step:
        name, user, data = extra_step
        c.complete(cid, name, user, data, forbidden=("mediator",))
    if tier == "complex":  # the co-department gives its part first (联合调解)
        c.complete(cid, "joint_part [child]", "union", {"joint_opinion": "工会派员参加联合调解"},
                   forbidden=("labour",))
    mediate = c.task(cid, "mediate")
    assert sorted(mediate["roles"]) == sorted(roles)
    assert mediate["due_at"] == end_of(due) and mediate["due_basis"]
    for user in doers:
        assert c.listed(cid, "mediate", user), user
    c.forbidden(cid, "mediate", *not_doers)
    c.complete(cid, "mediate", doers[0], {"mediation_result": "agreement"})
    assert c.ready(cid) == ["sign_agreement"]
    assert sorted(c.task(cid, "sign_agreement")["roles"]) == sorted(roles)
    c.assert_record(cid)


def test_village_center_mediates_a_simple_dispute_itself(center):
    c = center
    cid = register(c, user="v_clerk", channel="grid")
    case = c.case(cid)
    assert case["org_unit"] == VILLAGE_CODE and case["code"][6] == "3"  # village level in the case code
    assert not c.listed(cid, "screen", "screener") and c.listed(cid, "screen", "v_screener")
    c.complete(cid, "screen", "v_screener", {**AGREE, "tier": "simple"}, forbidden=("screener", "t_screener"))
    c.complete(cid, "dispatch", "v_screener", {"dispatch_route": "handle", "handling_dept": "grassroots_mediator",
                                               "mediation_type": "people"})
    assert c.task(cid, "mediate")["roles"] == ["grassroots_mediator"]
    c.complete(cid, "mediate", "v_mediator", {"mediation_result": "agreement"}, forbidden=("grassroots",))
    sign(c, cid, user="v_mediator")
    assert c.case(cid, "v_clerk")["org_unit"] == VILLAGE_CODE
    c.assert_record(cid)


def test_report_up_from_a_village_moves_the_case_to_the_township_then_the_county(center):
    c = center
    cid = register(c, user="v_clerk")
    c.complete(cid, "screen", "v_screener", {**AGREE, "tier": "ordinary"})
    c.complete(cid, "dispatch", "v_screener", {"dispatch_route": "escalate", "handling_dept": "mediator",
                                               "mediation_type": "people",
                                               "dispatch_note": "超出村级处置能力"})
    accept = c.task(cid, "accept_escalation")
    assert accept["roles"] == ["director", "screener"] and accept["org_unit"] == TOWNSHIP_CODE  # the task waits at the upper center
    assert accept["due_at"] == end_of("2026-03-03")  # 1 working day
    assert c.listed(cid, "accept_escalation", "t_screener") and c.listed(cid, "accept_escalation", "t_director")
    c.forbidden(cid, "accept_escalation", "v_screener", "v_director", "screener")
    c.complete(cid, "accept_escalation", "t_screener", {"tier": "complex", "escalation_note": "镇级受理"})

    case = c.case(cid)
    assert case["org_unit"] == TOWNSHIP_CODE and case["tier"] == "complex"
    [dispatch] = [t for t in case["tasks"] if t["kind"] == "bpmn"]
    assert dispatch["name"] == "dispatch" and dispatch["org_unit"] == TOWNSHIP_CODE
    assert c.listed(cid, "dispatch", "t_screener")
    assert not c.listed(cid, "dispatch", "v_screener") and not c.listed(cid, "dispatch", "screener")
    c.forbidden(cid, "dispatch", "v_screener", "screener")
    assert c.get(f"/api/v1/cases/{cid}", "t_screener")["org_unit"] == TOWNSHIP_CODE

    # the township reports it up once more: the county center takes it
    c.complete(cid, "dispatch", "t_screener", {"dispatch_route": "escalate", "handling_dept": "dept_hrss",
                                               "mediation_type": "people"})
    c.forbidden(cid, "accept_escalation", "t_screener", "t_director")
    assert c.listed(cid, "accept_escalation", "screener") and c.listed(cid, "accept_escalation", "director")
    c.complete(cid, "accept_escalation", "director", {"tier": "ordinary"})
    assert c.case(cid)["org_unit"] == COUNTY_CODE
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "mediator",
                                             "mediation_type": "people"}, forbidden=("t_screener",))
    assert c.listed(cid, "mediate", "mediator") and not c.listed(cid, "mediate", "t_mediator")
    c.complete(cid, "mediate", "mediator", {"mediation_result": "no_agreement"})
    c.complete(cid, "terminate_mediation", "mediator", {"termination_reason": "分歧过大",
                                                        "guided_channel": "litigation"})
    assert c.task(cid, "feedback")["org_unit"] == VILLAGE_CODE  # 首问负责: the village's window gives feedback
    feedback_and_day1(c, cid, clerk="v_clerk")
    c.assert_closed(cid, "未化解（已告知救济途径）")
    events = c.assert_record(cid)
    moves = [(e["actor"], e["payload"]["from"], e["payload"]["to"]) for e in events if e["type"] == "case_moved"]
    assert moves == [("t_screener", VILLAGE_CODE, TOWNSHIP_CODE), ("director", TOWNSHIP_CODE, COUNTY_CODE)]


def test_escalation_reaches_the_city_in_three_levels(center):
    c = center
    cid = register(c, user="v_clerk")
    c.complete(cid, "screen", "v_screener", {**AGREE, "tier": "ordinary"})
    c.complete(cid, "dispatch", "v_screener", {"dispatch_route": "escalate", "handling_dept": "mediator",
                                               "mediation_type": "people"})
    c.complete(cid, "accept_escalation", "t_director", {"tier": "ordinary"})
    c.complete(cid, "dispatch", "t_screener", {"dispatch_route": "escalate", "handling_dept": "mediator",
                                               "mediation_type": "people"})
    c.complete(cid, "accept_escalation", "screener", {"tier": "ordinary"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "escalate", "handling_dept": "mediator",
                                             "mediation_type": "people"})
    # the county reports up to the city center (市级), the top: it takes the case and re-tiers it
    c.complete(cid, "accept_escalation", "c_director", {"tier": "ordinary"}, forbidden=("director",))
    case = c.case(cid)
    assert case["org_unit"] == CITY_CODE and case["data"]["escalations"] == 3
    assert [t["name"] for t in case["tasks"] if t["kind"] == "bpmn"] == ["dispatch"]
    c.assert_record(cid)


def test_revisit_finding_relapse_opens_a_linked_repeat_case(center):
    c = center
    cid = to_mediation(c)
    c.complete(cid, "mediate", "mediator", {"mediation_result": "agreement"})
    sign(c, cid)
    feedback_and_day1(c, cid)
    c.drain(china("2026-03-09", 0, 0, 1))
    c.complete(cid, "revisit_check", "revisit", {"performance_status": "relapsed", "revisit_note": "双方再次争吵"})
    source = c.assert_closed(cid, "纠纷反弹（另立关联案件）")
    events = c.assert_record(cid)
    [linked_event] = [e for e in events if e["type"] == "case_linked"]
    assert linked_event["payload"]["kind"] == "repeat"
    new = c.case(linked_event["payload"]["case_id"])
    assert new["linked_case_id"] == cid and new["link_kind"] == "repeat"
    assert new["status"] == "open" and new["process_id"] == "dispute" and new["code"] != source["code"]
    assert new["org_unit"] == source["org_unit"]
    assert new["data"]["repeat"] is True and new["data"]["linked_from"] == source["code"]
    assert new["data"]["party_name"] == "张三"
    assert [t["name"] for t in new["tasks"]] == ["register"]
    assert c.listed(new["id"], "register", "clerk")


def agreement_not_performed(c, mediator="mediator", **to_mediation_args) -> int:
    """A mediated agreement signed, the party told, and the day-7 revisit (9 March) finding it not performed."""
    cid = to_mediation(c, **to_mediation_args)
    c.complete(cid, "mediate", mediator, {"mediation_result": "agreement"})
    sign(c, cid, user=mediator)
    feedback_and_day1(c, cid)
    c.drain(china("2026-03-09", 0, 0, 1))
    c.complete(cid, "revisit_check", "revisit", {"performance_status": "not_performed"})
    return cid


def test_not_performed_is_urged_then_parties_are_told_to_sue(center):
    c = center
    cid = agreement_not_performed(c)
    urge = c.task(cid, "urge_performance")
    assert urge["roles"] == ["mediator"] and urge["due_at"] == end_of("2026-03-16")  # 5 working days
    c.complete(cid, "urge_performance", "mediator", {"urge_result": "performed"}, forbidden=("revisit",))
    # performed after urging: the day-30 revisit is still made
    assert c.timers(cid) == {"第7日/第30日": end_of("2026-03-31")}
    c.drain(china("2026-04-01", 0, 0, 1))
    c.complete(cid, "revisit_check", "revisit", {"performance_status": "not_performed"})
    c.complete(cid, "urge_performance", "mediator", {"urge_result": "refused"})
    c.complete(cid, "advise_remedy", "mediator", {"remedy_advised": "lawsuit", "remedy_note": "告知就协议起诉"},
               forbidden=("clerk", "court"))
    c.assert_closed(cid, "协议未履行（已告知诉讼或执行）")
    c.assert_record(cid)


def test_only_intake_roles_open_a_dispute(center):
    c = center
    for user in ("mediator", "screener", "judge", "auditor"):
        response = c.post("/api/v1/cases", user, {"process_id": "dispute", "data": {}})
        assert response.status_code == 403, user
    assert c.open("dispute", "grassroots")["tasks"][0]["name"] == "register"


# ------------------------------------------------------------------------------------------- statutory expiry


def test_labour_mediation_ends_after_15_days_with_arbitration_advice(center):
    c = center
    cid = to_mediation(c, tier="simple", handling_dept="dept_hrss", mediation_type="labour", category="labour")
    # 劳动争议调解仲裁法 第14条: 15 days from the application (received 2 March) → Tuesday 17 March
    assert c.timers(cid) == {"法定期限届满前3日": end_of("2026-03-14"), "法定调解期限届满": end_of("2026-03-17")}
    c.drain(china("2026-03-15", 0, 0, 1))
    assert c.ready(cid) == ["limit_warning", "mediate"]
    c.complete(cid, "limit_warning", "labour", {"warning_action": "约双方周一再调"}, forbidden=("mediator",))
    c.drain(china("2026-03-17", 23, 59, 58))
    assert c.ready(cid) == ["mediate"]
    c.drain(china("2026-03-18", 0, 0, 0))
    assert c.ready(cid) == ["guide_arbitration"]
    assert c.task(cid, "guide_arbitration")["roles"] == ["dept_hrss"]
    c.complete(cid, "guide_arbitration", "labour", {"arbitration_commission": "西湖区劳动人事争议仲裁委员会"},
               forbidden=("mediator",))
    feedback_and_day1(c, cid)
    c.assert_closed(cid, "调解期满转劳动仲裁")
    events = c.assert_record(cid)
    cancelled = [e["task"] for e in events if e["type"] == "task_cancelled"]
    assert "调解" in cancelled
    fired = [e for e in events if e["type"] == "timer_fired"]
    assert [e["payload"]["command"]["timer"] for e in fired][:2] == ["法定期限届满前3日", "法定调解期限届满"]
    # the supervision ladder ran on the overdue mediation (simple tier: 1 day) and is on record too
    assert any(e["type"] == "task_escalated" and e["task"] == "调解" for e in events)


def test_people_mediation_month_runs_past_national_day_then_ends_without_consent(center):
    c = center
    c.set_time(china("2026-09-01", 9))  # a Tuesday
    cid = to_mediation(c, tier="ordinary")
    # 司法部令第75号 第33条, one month counted as 30 days: 1 October falls in the National Day holiday (1–7 Oct),
    # so the period runs to the first working day after it
    assert c.timers(cid) == {"法定期限届满前3日": end_of("2026-09-28"), "法定调解期限届满": end_of("2026-10-08")}
    assert c.task(cid, "mediate")["due_at"] == end_of("2026-09-08")  # ordinary tier: 7 days (local limit)
    c.drain(china("2026-10-08", 23, 59, 58))
    assert c.ready(cid) == ["limit_warning", "mediate"]
    c.complete(cid, "limit_warning", "mediator", {"warning_action": "已告知当事人"})
    c.drain(china("2026-10-09", 0, 0, 0))
    assert c.ready(cid) == ["ask_extension"]
    c.complete(cid, "ask_extension", "mediator", {"all_parties_consent": False, "extension_days": 15,
                                                  "appraisal_days": 0}, forbidden=("screener",))
    c.complete(cid, "terminate_mediation", "mediator", {"termination_reason": "期限届满，一方不同意延长",
                                                        "guided_channel": "litigation"})
    feedback_and_day1(c, cid)
    c.assert_closed(cid, "未化解（已告知救济途径）")
    c.assert_record(cid)


def test_court_referred_mediation_extends_with_consent_then_returns_to_court(center):
    c = center
    cid = to_mediation(c, mediation_type="court_referred", channel="court_referral", referral_no="(2026)浙0106民诉前调100号")
    # 特邀调解规定 第27条: 30 days from the start of mediation (2 March) → Wednesday 1 April
    assert c.timers(cid)["法定调解期限届满"] == end_of("2026-04-01")
    c.drain(china("2026-04-02", 0, 0, 0))
    assert c.ready(cid) == ["ask_extension", "limit_warning"]
    c.complete(cid, "limit_warning", "mediator", {"warning_action": "征询延期"})
    # all parties agree to 10 more days; 5 days of appraisal do not count: the period is 15 days longer, still
    # counted from 2 March (45 days → Thursday 16 April), not restarted on the day the limit fired
    c.complete(cid, "ask_extension", "mediator", {"all_parties_consent": True, "extension_days": 10,
                                                  "appraisal_days": 5})
    assert c.ready(cid) == ["mediate"]
    assert c.timers(cid) == {"法定期限届满前3日": end_of("2026-04-13"), "法定调解期限届满": end_of("2026-04-16")}
    c.drain(china("2026-04-17", 0, 0, 0))
    c.complete(cid, "limit_warning", "mediator", {"warning_action": "无"})
    c.complete(cid, "ask_extension", "mediator", {"all_parties_consent": False, "extension_days": 1,
                                                  "appraisal_days": 0})
    ret = c.task(cid, "return_to_court")
    assert ret["roles"] == ["dept_court"]
    c.complete(cid, "return_to_court", "court", {"court_filing_date": c.day(0), "court_case_no": "(2026)浙0106民初88号"},
               forbidden=("mediator", "court_clerk"))
    feedback_and_day1(c, cid)
    c.assert_closed(cid, "调解不成退回法院")
    c.assert_record(cid)


# ------------------------------------------------------------------------------------------- known bugs


def test_reminder_acknowledged_last_does_not_become_the_outcome(center):
    c = center
    cid = to_mediation(c, tier="simple", handling_dept="dept_hrss", mediation_type="labour", category="labour")
    c.drain(china("2026-03-18", 0, 0, 0))
    assert c.ready(cid) == ["guide_arbitration", "limit_warning"]
    c.complete(cid, "guide_arbitration", "labour", {"arbitration_commission": "西湖区劳动人事争议仲裁委员会"})
    c.complete(cid, "feedback", "clerk", {"feedback_date": c.day(0), "feedback_method": "phone"})
    c.drain(china("2026-03-19", 9))
    c.complete(cid, "satisfaction_call", "revisit", {"satisfaction": "satisfied"})
    assert c.ready(cid) == ["limit_warning"] and c.case(cid)["status"] == "open"  # the main path has ended
    c.complete(cid, "limit_warning", "labour", {"warning_action": "补记：已提醒"})
    case = c.case(cid)
    assert (case["status"], case["outcome"]) == ("closed", "调解期满转劳动仲裁")


def test_rejected_confirmation_is_the_outcome_even_if_the_cap_report_is_answered_last(center):
    c = center
    cid = to_mediation(c)
    c.complete(cid, "mediate", "mediator", {"mediation_result": "agreement"})
    sign(c, cid, confirm=True)
    jc = linked_jc(c, cid)
    c.complete(jc, "jc_register_agreement", "mediator", {
        "agreement_no": "西调字〔2026〕第15号", "agreement_date": c.day(0), "mediation_org": "西湖区人民调解委员会",
        "jc_court_name": "西湖区人民法院", "jc_venue_basis": "mediation_org_location"})
    c.complete(jc, "jc_joint_application", "mediator", {"jc_application": "joint", "jc_application_date": c.day(0)})
    c.complete(jc, "jc_accept", "court_clerk", {"jc_accept_decision": "accepted", "jc_accept_date": c.day(0)})
    c.complete(jc, "jc_review", "judge", {"jc_review_decision": "ready", "jc_supplement_days": 7})
    c.drain(china("2026-04-02", 0, 0, 0))  # the 30-day cap passes while the judge drafts the ruling
    c.complete(jc, "jc_issue_ruling", "judge", {"jc_ruling": "rejected", "jc_reject_reason": "unclear",
                                                "jc_ruling_date": c.day(0)})
    c.complete(jc, "jc_rejected_followup", "mediator", {"jc_rejected_next": "amend"})
    assert c.ready(jc) == ["jc_cap_report"]
    c.complete(jc, "jc_cap_report", "unit_head", {"jc_cap_action": "已督办"})
    c.assert_closed(jc, "驳回申请")


def test_simple_dispute_sent_to_a_department_from_a_village_reaches_the_department(center):
    c = center
    cid = register(c, user="v_clerk")
    c.complete(cid, "screen", "v_screener", {**AGREE, "tier": "simple"})
    c.complete(cid, "dispatch", "v_screener", {"dispatch_route": "handle", "handling_dept": "dept_housing",
                                               "mediation_type": "administrative"})
    assert c.task(cid, "mediate")["roles"] == ["dept_housing"]
    assert c.listed(cid, "mediate", "housing")
