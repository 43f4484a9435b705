"""A case opened first and registered by its first task (as the API and the demo do it) is received under the
category and channel it was registered with — in the figures as the commands keep them and after a rebuild."""
from __future__ import annotations

from engine import stats as stats_defs
from tests.scenario.test_dispute import REGISTER, register


def _by_category(c) -> dict:
    body = c.get("/api/v1/stats?group_by=category&from=2026-01-01&to=2026-12-31", "director")
    return {g["key"]: g["received"] for g in body["groups"] if g["received"]}


def test_the_receipt_moves_to_the_category_the_case_was_registered_with(center, session):
    c = center
    register(c)
    register(c, category="labour")
    expected = {REGISTER["category"]: 1, "labour": 1} if REGISTER["category"] != "labour" else {"labour": 2}
    assert _by_category(c) == expected  # nothing left under 未填 (the category the open command saw)
    channels = c.get("/api/v1/stats?group_by=channel&from=2026-01-01&to=2026-12-31", "director")
    assert {g["key"]: g["received"] for g in channels["groups"] if g["received"]} == {REGISTER["channel"]: 2}
    stats_defs.rebuild(session)
    session.commit()
    assert _by_category(c) == expected  # a rebuild counts them the same
