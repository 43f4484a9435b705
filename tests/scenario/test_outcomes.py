"""Issue 17 §4 outcomes through the API, as the center's users: every closed case carries its outcome class
(化解 / 未化解 / 撤回 / 移送 / 不予受理, the end event's jiefen.outcome_class), and dispute.bpmn offers the
outcomes the reports count: 当事人撤回, 自行和解, 不予受理（已由其他机关受理）, 劳动争议协议未履行转仲裁/支付令."""
from __future__ import annotations

import pytest

from tests.scenario.conftest import china
from tests.scenario.test_dispute import (
    agreement_not_performed,
    feedback_and_day1,
    register,
    sign,
    to_mediation,
)
from tests.scenario.test_staff_pages import page  # noqa: F401  (fixture)


def _closed_with(c, cid, outcome, outcome_class, name):
    case = c.assert_closed(cid, outcome)
    assert (case["outcome_class"], case["outcome_class_name"]) == (outcome_class, name)
    closed = c.assert_record(cid)[-1]
    assert closed["type"] == "case_closed" and closed["payload"]["outcome_class"] == outcome_class
    return case


def test_open_case_has_no_outcome_class_and_an_agreement_revisited_is_resolved(center):
    c = center
    cid = to_mediation(c)
    assert c.case(cid)["outcome_class"] is None and c.case(cid)["outcome_class_name"] is None
    c.complete(cid, "mediate", "mediator", {"mediation_result": "agreement"})
    sign(c, cid)
    feedback_and_day1(c, cid)
    c.drain(china("2026-03-09", 0, 0, 1))
    c.complete(cid, "revisit_check", "revisit", {"performance_status": "performing"})
    c.drain(china("2026-04-01", 0, 0, 1))
    c.complete(cid, "revisit_check", "revisit", {"performance_status": "performed"})
    _closed_with(c, cid, "已化解", "resolved", "化解")


@pytest.mark.parametrize("result, outcome, outcome_class, name", [
    ("withdrawn", "当事人撤回", "withdrawn", "撤回"),
    ("self_settled", "当事人自行和解", "resolved", "化解"),
])
def test_parties_withdraw_or_settle_themselves_during_mediation(center, page, result, outcome,  # noqa: F811
                                                                 outcome_class, name):
    c = center
    cid = to_mediation(c)
    c.complete(cid, "mediate", "mediator", {"mediation_result": result, "mediation_record": "当事人来电"},
               forbidden=("clerk",))
    # the first-contact window gives the feedback as on every other path; then the day-1 call
    assert c.ready(cid) == ["feedback"] and c.case(cid)["data"]["closure_type"] == result
    feedback_and_day1(c, cid)
    _closed_with(c, cid, outcome, outcome_class, name)
    html = page("director", f"/cases/{cid}")
    assert "结案类别" in html and f'<dd class="outcome-class">{name}</dd>' in html
    assert f"{outcome}（{name}）" in html  # the history's closing entry


def test_dispute_already_accepted_by_another_body_is_not_accepted(center):
    c = center
    cid = register(c)
    c.complete(cid, "screen", "screener", {"mediation_consent": "accepted_elsewhere", "escalation_risk": "none",
                                           "tier": "simple", "screen_note": "已由区法院立案受理"},
               forbidden=("clerk",))
    events = c.events(cid)
    assert c.ready(cid) == []
    _closed_with(c, cid, "不予受理（已由其他机关受理）", "not_accepted", "不予受理")
    assert not any(e["type"] == "task_opened" and e["task"] == "分流交办" for e in events)


def test_labour_agreement_not_performed_goes_to_arbitration_or_payment_order(center):
    c = center
    cid = agreement_not_performed(c, "labour", tier="simple", handling_dept="dept_hrss", mediation_type="labour",
                                  category="labour")
    c.complete(cid, "urge_performance", "labour", {"urge_result": "refused"})
    c.complete(cid, "advise_remedy", "labour", {"remedy_advised": "labour_arbitration",
                                                "remedy_note": "告知可持调解协议书申请支付令"}, forbidden=("mediator",))
    _closed_with(c, cid, "协议未履行转劳动仲裁或支付令", "transferred", "移送")


def test_agreement_not_performed_told_to_sue_is_unresolved(center):
    c = center
    cid = agreement_not_performed(c)
    c.complete(cid, "urge_performance", "mediator", {"urge_result": "refused"})
    c.complete(cid, "advise_remedy", "mediator", {"remedy_advised": "lawsuit"})
    _closed_with(c, cid, "协议未履行（已告知诉讼或执行）", "unresolved", "未化解")
