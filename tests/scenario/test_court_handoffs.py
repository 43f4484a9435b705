"""Issue 17 §4 court hand-offs and limits in dispute.bpmn, through the API as the center's and the court's users:
委派调解 failing before its 30 days goes back to the court as the expiry does; the referring court learns the
result on the other branches (法院接收调解结果); 委托调解 runs to the court's own date; the 30 days count once from
acceptance; labour mediation at day 15 tells the party they may apply for arbitration and goes on by consent."""
from __future__ import annotations

from tests.scenario.conftest import china, end_of
from tests.scenario.test_dispute import AGREE, feedback_and_day1, register, sign, to_mediation

REFERRAL = {"channel": "court_referral", "referral_no": "(2026)浙0106民诉前调100号"}


def test_court_referred_mediation_failing_before_day_30_returns_to_the_court(center):
    c = center
    cid = to_mediation(c, mediation_type="court_referred", **REFERRAL)
    assert c.timers(cid)["法定调解期限届满"] == end_of("2026-04-01")
    c.complete(cid, "mediate", "mediator", {"mediation_result": "no_agreement"})  # day 1, long before day 30
    assert c.ready(cid) == ["return_to_court"] and c.timers(cid) == {}
    ret = c.task(cid, "return_to_court")
    assert ret["roles"] == ["dept_court"] and ret["due_at"] == end_of("2026-03-05")
    c.complete(cid, "return_to_court", "court", {"court_filing_date": c.day(0), "court_case_no": "(2026)浙0106民初9号"},
               forbidden=("mediator",))
    feedback_and_day1(c, cid)  # the court has the result already: no second court task
    case = c.assert_closed(cid, "调解不成退回法院")
    assert case["outcome_class"] == "transferred"
    assert not any(e["task"] == "法院接收调解结果" for e in c.assert_record(cid))


def test_referring_court_learns_an_agreement_and_the_revisits_go_on(center):
    c = center
    cid = to_mediation(c, mediation_type="court_referred", **REFERRAL)
    c.complete(cid, "mediate", "mediator", {"mediation_result": "agreement"})
    sign(c, cid)
    c.complete(cid, "feedback", "clerk", {"feedback_date": c.day(0), "feedback_method": "phone"})
    assert c.ready(cid) == ["court_receive_result"]
    told = c.task(cid, "court_receive_result")
    assert told["roles"] == ["dept_court"] and told["warning_level"] in (0, None)
    c.complete(cid, "court_receive_result", "court", {"court_result_received_date": c.day(0),
                                                      "court_result_handling": "filed_record"},
               forbidden=("mediator", "clerk"))
    assert c.ready(cid) == [] and "第1日" in c.timers(cid)


def test_referring_court_learns_a_withdrawal(center):
    c = center
    cid = to_mediation(c, mediation_type="court_referred", **REFERRAL)
    c.complete(cid, "mediate", "mediator", {"mediation_result": "withdrawn"})
    c.complete(cid, "feedback", "clerk", {"feedback_date": c.day(0), "feedback_method": "phone"})
    assert c.ready(cid) == ["court_receive_result"]


def test_entrusted_mediation_runs_to_the_courts_date_and_returns_to_the_court(center):
    c = center
    cid = register(c, **REFERRAL)
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "ordinary"})
    task = c.task(cid, "dispatch")
    # the court's limit is required for 委托调解
    assert c.post(f"/api/v1/tasks/{task['id']}/claim", "screener").status_code == 200
    missing = c.post(f"/api/v1/tasks/{task['id']}/complete", "screener", {"data": {
        "dispatch_route": "handle", "handling_dept": "mediator", "mediation_type": "court_entrusted"}})
    assert missing.status_code == 422 and "court_limit_date" in str(missing.get_json())
    ok = c.post(f"/api/v1/tasks/{task['id']}/complete", "screener", {"data": {
        "dispatch_route": "handle", "handling_dept": "mediator", "mediation_type": "court_entrusted",
        "court_limit_date": "2026-03-20"}})
    assert ok.status_code == 200, ok.get_json()
    assert c.timers(cid) == {"法定期限届满前3日": end_of("2026-03-17"), "法定调解期限届满": end_of("2026-03-20")}
    c.drain(china("2026-03-21", 0, 0, 1))
    c.complete(cid, "limit_warning", "mediator", {"warning_action": "已告知法院"})
    c.complete(cid, "ask_extension", "mediator", {"all_parties_consent": False, "extension_days": 1,
                                                  "appraisal_days": 0})
    assert c.ready(cid) == ["return_to_court"]
    c.complete(cid, "return_to_court", "court", {"court_filing_date": c.day(0)})
    feedback_and_day1(c, cid)
    c.assert_closed(cid, "调解不成退回法院")


def test_people_mediation_month_does_not_restart_on_redispatch(center):
    c = center
    cid = to_mediation(c)
    assert c.timers(cid)["法定调解期限届满"] == end_of("2026-04-01")
    c.drain(china("2026-03-10", 9))
    c.complete(cid, "mediate", "mediator", {"mediation_result": "redispatch"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "mediator",
                                             "mediation_type": "people"})
    case = c.case(cid)
    assert case["data"]["mediation_rounds"] == 2 and case["data"]["mediation_accepted_date"] == "2026-03-02"
    assert c.timers(cid)["法定调解期限届满"] == end_of("2026-04-01")  # still 30 days from 2 March


def test_labour_day_15_tells_the_party_and_mediation_goes_on_by_consent(center):
    c = center
    cid = to_mediation(c, tier="simple", handling_dept="dept_hrss", mediation_type="labour", category="labour")
    assert c.timers(cid)["法定调解期限届满"] == end_of("2026-03-17")
    c.drain(china("2026-03-18", 0, 0, 0))
    c.complete(cid, "limit_warning", "labour", {"warning_action": "约谈"})
    assert c.ready(cid) == ["guide_arbitration"]
    c.complete(cid, "guide_arbitration", "labour", {"arbitration_commission": "西湖区劳动人事争议仲裁委员会",
                                                    "all_parties_consent": True, "extension_days": 10})
    # 10 more days on the 15 counted from 收件日期 (2 March): 27 March
    assert c.ready(cid) == ["mediate"]
    assert c.timers(cid) == {"法定期限届满前3日": end_of("2026-03-24"), "法定调解期限届满": end_of("2026-03-27")}
    c.complete(cid, "mediate", "labour", {"mediation_result": "agreement"})
    assert c.ready(cid) == ["sign_agreement"]


def test_labour_day_15_without_consent_is_recorded_as_arbitration(center):
    c = center
    cid = to_mediation(c, tier="simple", handling_dept="dept_hrss", mediation_type="labour", category="labour")
    c.drain(china("2026-03-18", 0, 0, 0))
    c.complete(cid, "guide_arbitration", "labour", {"arbitration_commission": "西湖区劳动人事争议仲裁委员会",
                                                    "all_parties_consent": False})
    assert c.case(cid)["data"]["closure_type"] == "arbitration" and c.ready(cid) == ["feedback", "limit_warning"]


def test_escalating_without_the_handle_fields_passes(center):
    c = center
    cid = register(c, user="v_clerk")
    c.complete(cid, "screen", "v_screener", {**AGREE, "tier": "ordinary"})
    c.complete(cid, "dispatch", "v_screener", {"dispatch_route": "escalate", "dispatch_note": "超出村级处置能力"})
    assert c.ready(cid) == ["accept_escalation"]
    data = c.case(cid)["data"]
    assert data.get("handling_dept") is None and data.get("mediation_type") is None
    c.complete(cid, "accept_escalation", "t_screener", {"tier": "ordinary"})
    # the upper center's own 分流 asks for them again, shown because it handles the case
    form = {f["id"]: f for f in c.get(f"/api/v1/tasks/{c.task(cid, 'dispatch')['id']}", "t_screener")["form"]}
    assert form["handling_dept"]["show_if"] == "dispatch_route == 'handle'" and form["handling_dept"]["required"]
    c.complete(cid, "dispatch", "t_screener", {"dispatch_route": "handle", "handling_dept": "mediator",
                                               "mediation_type": "people"})
    assert c.ready(cid) == ["mediate"]


def test_entrusted_agreement_goes_to_the_courts_mediation_document_not_to_judicial_confirmation(center):
    """委托调解: the court itself makes the 调解书 (民诉法解释 第142条); 调解协议 + 司法确认 is the other path."""
    c = center
    cid = register(c, **REFERRAL)
    c.complete(cid, "screen", "screener", {**AGREE, "tier": "ordinary"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "handle", "handling_dept": "mediator",
                                             "mediation_type": "court_entrusted", "court_limit_date": "2026-03-31"})
    c.complete(cid, "mediate", "mediator", {"mediation_result": "agreement"})
    sign(c, cid, confirm=True)
    assert not [e for e in c.events(cid) if e["type"] == "case_linked"]  # no 司法确认 case
    c.complete(cid, "feedback", "clerk", {"feedback_date": c.day(0), "feedback_method": "phone"})
    c.complete(cid, "court_receive_result", "court", {"court_result_received_date": c.day(0),
                                                      "court_result_handling": "mediation_document",
                                                      "court_result_note": "依协议制作调解书"})
    assert c.case(cid)["data"]["court_result_handling"] == "mediation_document"
