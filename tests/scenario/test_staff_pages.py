"""Issue 17 §5 through the staff pages, as the center's users: what staff read is Chinese, not variable names."""
from __future__ import annotations

import re

import pytest

from tests.scenario.test_dispute import register
from tests.support.web import ui_login


@pytest.fixture
def page(app):
    """page(user, url) -> the HTML a user logged in through the /login form sees (one browser per user)."""
    browsers: dict = {}

    def _page(user: str, url: str, status: int = 200) -> str:
        if user not in browsers:
            browsers[user] = app.test_client()
            ui_login(browsers[user], user, expect=302)
        response = browsers[user].get(url)
        assert response.status_code == status, (url, user)
        return response.get_data(as_text=True)
    return _page


def _history(html: str) -> str:
    return html[html.index('class="timeline"'):html.index("</ol>", html.index('class="timeline"'))]


def test_history_labels_fields_from_forms_and_declared_labels_and_hides_working_variables(center, page):
    c = center
    cid = register(c)
    c.complete(cid, "screen", "screener", {"mediation_consent": "agree", "escalation_risk": "none",
                                           "tier": "ordinary"})
    history = _history(page("clerk", f"/cases/{cid}"))
    # form fields by the label of the task that wrote them, enum values by their option names
    assert "<td>纠纷类型</td><td>—</td><td>邻里</td>" in history
    assert "<td>纠纷等级</td><td>—</td><td>一般</td>" in history  # screen's own label, not a later form's
    assert history.index("<td>纠纷类型</td>") < history.index("<td>申请人（当事人）</td>") < history.index("<td>首问责任人</td>")
    # script-set data the process labels (jiefen.label.* / jiefen.values.*), with its values named
    assert "<td>结案方式</td><td>—</td><td>未化解</td>" in history
    assert "<td>司法确认结果</td><td>—</td><td>未申请</td>" in history
    # working variables nobody labelled are not shown; no raw id anywhere in the history
    for raw in ("closure_type", "jc_result", "escalate_now", "revisit_round", "unresolved", "neighbourhood"):
        assert raw not in history, raw
    # times as YYYY-MM-DD HH:MM China time
    assert re.search(r"<time>2026-03-02 09:00</time>", history)
    # the API keeps the raw changes for auditors
    started = next(e for e in c.events(cid) if e["type"] == "case_started")
    assert started["payload"]["changes"]["escalate_now"] == [None, False]


def test_deadline_bases_cite_the_statute_without_tags_or_property_names(center, page):
    c = center
    cid = register(c)
    c.complete(cid, "screen", "screener", {"mediation_consent": "agree", "escalation_risk": "none",
                                           "tier": "ordinary"})
    c.complete(cid, "dispatch", "screener", {"dispatch_route": "escalate", "handling_dept": "mediator",
                                             "mediation_type": "people", "dispatch_note": "超出本级处置能力"})
    accept = c.task(cid, "accept_escalation")
    assert accept["due_basis"].startswith("上报：") and "jiefen." not in accept["due_basis"]
    opened = [e["payload"]["basis"] for e in c.events(cid) if e["type"] == "task_opened"]
    assert opened and not any(re.search(r"\[[LPD]|jiefen\.|domain\.md", basis) for basis in opened)
    html = page("director", f"/cases/{cid}")
    html = html[html.index("<main"):]
    assert "人民调解法 第17条" in html  # the statute stays
    for raw in ("[P]", "[L/P]", "[L]", "jiefen.move_case", "domain.md"):
        assert raw not in html, raw
