"""核验与回放 (/audit/cases/<id>) as an auditor: the verification said plainly — a tampered record named — and the
history replayed step by step with the data as it then was."""
from __future__ import annotations

import json
import re

from sqlalchemy import update

from engine.models import CaseEventModel
from tests.support.cases import registered
from tests.support.web import ui_login


def _browser(app, user):
    client = app.test_client()
    ui_login(client, user, expect=302)
    return client


def test_the_auditor_sees_an_intact_case_replayed_step_by_step(app, session, actor):
    case = registered(session, actor("clerk"))
    html = _browser(app, "auditor").get(f"/audit/cases/{case.id}").get_data(as_text=True)
    assert "核验与回放" in html and "哈希链完整" in html and "结果与存储的案件完全一致" in html
    assert "最早断裂处" not in html and 'data-first-broken=""' in html
    steps = json.loads(re.search(r'<script type="application/json" id="replay-steps">(.*?)</script>', html, re.S)
                       .group(1))
    assert [s["seq"] for s in steps] == list(range(1, len(steps) + 1))
    assert steps[0]["active"] == ["intake"] and steps[0]["who"] == "clerk"
    done = next(s for s in steps if s["task"] == "受理登记" and s["what"] == "办理完成")
    rows = {r["label"]: r for r in done["rows"]}
    assert rows["当事人"]["value"] == "张三" and rows["当事人"]["changed"]  # entered by this record
    later = steps[steps.index(done) + 1]
    assert not {r["label"]: r for r in later["rows"]}["当事人"]["changed"]
    assert "intake" in steps[-1]["completed"]
    # the case page links here for auditors, not for staff
    assert f'/audit/cases/{case.id}"' in _browser(app, "auditor").get(f"/cases/{case.id}").get_data(as_text=True)
    clerk = _browser(app, "clerk")
    assert "/audit/cases/" not in clerk.get(f"/cases/{case.id}").get_data(as_text=True)
    assert clerk.get(f"/audit/cases/{case.id}").status_code == 403


def test_a_changed_record_is_named_as_the_first_broken_link(app, session, actor, login):
    case = registered(session, actor("clerk"))
    event = session.query(CaseEventModel).filter_by(case_id=case.id, seq=2).one()
    session.execute(update(CaseEventModel).where(CaseEventModel.id == event.id)
                    .values(payload={**event.payload, "roles": ["someone_else"]}))
    session.commit()
    html = _browser(app, "auditor").get(f"/audit/cases/{case.id}").get_data(as_text=True)
    assert "哈希链已断裂" in html and 'data-first-broken="2"' in html
    assert "最早断裂处：第 2 条记录" in html and "其内容被改动" in html
    verify = app.test_client().get(f"/api/v1/cases/{case.id}/verify", headers=login("auditor")).get_json()
    assert (verify["chain_ok"], verify["first_broken_seq"]) == (False, 2)
