"""Issue 20 §4, §5 in the pages (Flask test client): /admin/ladder (the policy per tier, errors per field, saved
for new tasks or open ones too, its history), the lane map on /admin/roles, /admin/settings (group cases, ranking),
disabling a unit on its page after seeing its open tasks; administrators change, auditors read, others 403."""
from __future__ import annotations

from tests.support.web import csrf, ui_login


def _form(client, url: str, data: dict, page: str | None = None):
    token = csrf(client.get(page or url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token})


def _ladder_form(**changes) -> dict:
    """The form as the page sends today's policy, with `changes`."""
    data = {"enabled": "1"}
    for tier in ("simple", "ordinary", "complex", "major"):
        data[f"{tier}-enabled"] = "1"
        for step, direction, amount, unit, two_thirds in (("prompt", "before", "3", "days", True),
                                                          ("reminder", "after", "0", "days", False),
                                                          ("notice", "after", "1", "days", False),
                                                          ("listing", "after", "5", "workdays", False)):
            data.update({f"{tier}-{step}-on": "1", f"{tier}-{step}-direction": direction,
                         f"{tier}-{step}-amount": amount, f"{tier}-{step}-unit": unit})
            if two_thirds:
                data[f"{tier}-{step}-two_thirds"] = "1"
    for kind in ("city", "county", "township", "village", "department"):
        data[f"role-{kind}-notice"], data[f"role-{kind}-listing"] = "unit_head", "supervisor"
    data.update(changes)
    return data


def test_the_ladder_page_shows_the_policy_and_saves_a_change(client, directory):
    ui_login(client, "admin")
    page = client.get("/admin/ladder").get_data(as_text=True)
    assert "督办规则" in page and "重大案件" in page and "挂牌督办" in page and "期限过去三分之二时" in page
    assert "尚未在控制台修改" in page  # never changed yet: the seed file's values
    refused = _form(client, "/admin/ladder", _ladder_form(**{"major-notice-direction": "before"}))
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert "督办的时间须晚于催办" in html and "field-error" in html
    data = _ladder_form(**{"major-listing-amount": "2", "note": "重大案件加快挂牌"})
    del data["simple-prompt-on"]
    saved = _form(client, "/admin/ladder", data)
    assert saved.status_code == 302
    page = client.get("/admin/ladder").get_data(as_text=True)
    assert "重大案件加快挂牌" in page and "今后新产生的事项" in page and "督办规则已保存" in page
    policy = client.get("/api/v1/admin/ladder").get_json()["policy"]
    assert policy["tiers"]["major"]["steps"][3]["amount"] == 2
    assert [s["step"] for s in policy["tiers"]["simple"]["steps"]] == ["reminder", "notice", "listing"]


def test_auditors_read_the_ladder_without_a_form_and_others_are_refused(client, directory):
    ui_login(client, "auditor")
    page = client.get("/admin/ladder").get_data(as_text=True)
    assert "督办规则" in page and 'id="ladder-save"' not in page and "disabled" in page
    client.post("/logout", data={"csrf_token": csrf(page)})
    ui_login(client, "clerk")
    assert client.get("/admin/ladder").status_code == 403
    assert client.get("/admin/settings").status_code == 403


def test_the_lane_map_is_edited_on_the_roles_page(client, directory):
    ui_login(client, "admin")
    page = client.get("/admin/roles").get_data(as_text=True)
    assert 'id="lane-form"' in page and "保存泳道映射" in page
    rows = {"what": "lanes", "rows": "3", "lane-0": "调解员", "lane-role-0": "mediator", "lane-1": "驻点调解员",
            "lane-role-1": "mediator", "lane-2": "回访员", "lane-role-2": "nobody_role"}
    refused = _form(client, "/admin/roles", rows)
    assert refused.status_code == 422 and "未知" in refused.get_data(as_text=True)
    rows["lane-role-2"] = ""
    rows["lane-2"] = ""
    assert _form(client, "/admin/roles", rows).status_code == 302
    lanes = client.get("/api/v1/admin/roles").get_json()["lane_roles"]
    assert lanes == [{"lane": "调解员", "role": "mediator"}, {"lane": "驻点调解员", "role": "mediator"}]


def test_group_cases_and_ranking_are_set_on_their_page(client, directory):
    ui_login(client, "admin")
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "群体性、高风险案件" in page and "排名权重" in page
    refused = _form(client, "/admin/settings", {"what": "ranking", **{f"weight-{r}": "0" for r in (
        "responded_on_time_rate", "closed_on_time_rate", "satisfaction_rate", "closed_rate", "resolved_rate")}})
    assert refused.status_code == 422 and "至少一个指标的权重大于0" in refused.get_data(as_text=True)
    ok = _form(client, "/admin/settings", {"what": "group_case", "people_involved_at_least": "15",
                                           "director_role": "director", "consultation_roles": ["dept_police"]})
    assert ok.status_code == 302
    value = client.get("/api/v1/admin/settings/group_case").get_json()["value"]
    assert value == {"people_involved_at_least": 15, "director_role": "director", "consultation_roles": ["dept_police"]}


def test_a_unit_is_disabled_after_its_open_tasks_are_shown_and_enabled_again(client, directory):
    ui_login(client, "admin")
    url = "/admin/org/330106001"
    preview = _form(client, url, {"what": "disable"})
    assert preview.status_code == 200
    assert 'id="disable-preview"' in preview.get_data(as_text=True)
    assert client.get("/api/v1/admin/org-units/330106001").get_json()["active"] is True  # not yet
    assert _form(client, url, {"what": "disable", "confirm": "1"}).status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert "已停用" in page and 'id="org-enable"' in page
    assert "已停用" in client.get("/admin/org").get_data(as_text=True)
    assert _form(client, url, {"what": "enable"}).status_code == 302
    assert client.get("/api/v1/admin/org-units/330106001").get_json()["active"] is True
