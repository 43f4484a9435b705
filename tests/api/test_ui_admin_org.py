"""Issue 20 §2 in the browser's pages (Flask test client): /admin/org (tree, add form with errors per field),
a unit's page (details, presence, move previewed then confirmed, delete refused while in use), the roster,
/admin/roles; administrators change, auditors read without forms, everyone else 403."""
from __future__ import annotations

from sqlalchemy import select

from engine.models import OrgUnitModel
from tests.support.web import csrf, ui_login


def _form(client, url: str, data: dict, page: str | None = None, **kwargs):
    token = csrf(client.get(page or url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def test_admin_adds_a_unit_on_the_form_and_bad_input_keeps_what_was_typed(client, directory):
    ui_login(client, "admin")
    page = client.get("/admin/org").get_data(as_text=True)
    assert "组织机构" in page and "北山街道综治中心" in page and "新增机构" in page
    refused = _form(client, "/admin/org", {"parent": "330106001", "kind": "village", "name": "玉泉社区调解室",
                                           "code": "33010600100", "phone": ""})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'value="玉泉社区调解室"' in html and "12 位数字" in html and "field-error" in html
    added = _form(client, "/admin/org", {"parent": "330106001", "kind": "village", "name": "玉泉社区调解室",
                                         "code": "330106001003", "phone": ""})
    assert added.status_code == 302 and added.headers["Location"].endswith("/admin/org/330106001003")
    page = client.get("/admin/org/330106001003").get_data(as_text=True)
    assert "玉泉社区调解室" in page and "村（社区）调委会" in page and "新增机构" in page  # and its record


def test_a_move_is_shown_before_it_is_made(client, directory, session):
    directory.add_org_unit(session, "330106002", "西溪街道综治中心", "township", "330106000")
    ui_login(client, "admin")
    url = "/admin/org/330106001001"
    preview = _form(client, url, {"what": "move", "parent": "330106002"})
    assert preview.status_code == 200
    html = preview.get_data(as_text=True)
    assert 'id="move-preview"' in html and "上报改为报送 西溪街道综治中心" in html
    unit = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == "330106001001"))
    session.refresh(unit)
    assert unit.parent.code == "330106001"  # not yet
    done = _form(client, url, {"what": "move", "parent": "330106002", "confirm": "1"})
    assert done.status_code == 302
    session.refresh(unit)
    assert unit.parent_id == session.scalar(select(OrgUnitModel.id).where(OrgUnitModel.code == "330106002"))
    wrong = _form(client, url, {"what": "move", "parent": "330106001001"})
    assert wrong.status_code == 422 and "field-error" in wrong.get_data(as_text=True)


def test_deleting_a_unit_in_use_says_what_refers_to_it(client, directory):
    ui_login(client, "admin")
    refused = _form(client, "/admin/org/330106001", {"what": "delete"})
    assert refused.status_code == 409
    assert "仍被引用，不能删除" in refused.get_data(as_text=True)


def test_presence_is_set_on_a_department_and_the_roster_shows_it(client, directory, session):
    directory.add_org_unit(session, "330106-union", "区总工会", "department", "330106000")
    ui_login(client, "admin")
    url = "/admin/org/330106-union"
    refused = _form(client, url, {"what": "presence", "presence": "rota"})
    assert refused.status_code == 422 and "轮驻部门须填写在岗的星期" in refused.get_data(as_text=True)
    token = csrf(client.get(url).get_data(as_text=True))
    saved = client.post(url, data={"what": "presence", "presence": "rota", "rota_days": ["2", "4"],
                                   "csrf_token": token})
    assert saved.status_code == 302
    roster = client.get("/admin/org/roster?week=2026-W10").get_data(as_text=True)
    assert "区总工会" in roster and "轮驻：周二、周四" in roster and 'data-day="2026-03-03" class="state-present"' in roster
    assert 'data-day="2026-03-02" class="state-absent"' in roster
    assert "周次无效" in client.get("/admin/org/roster?week=soon").get_data(as_text=True)


def test_auditors_read_without_forms_and_staff_are_refused(client, app, directory):
    ui_login(client, "auditor")
    for url, form in (("/admin/org", 'id="org-add"'), ("/admin/org/330106001", 'id="org-details"'),
                      ("/admin/org/roster", None), ("/admin/roles", 'name="name_zh"')):
        response = client.get(url)
        assert response.status_code == 200, url
        assert form is None or form not in response.get_data(as_text=True), url
    assert _form(client, "/admin/org/330106001", {"what": "delete"}).status_code == 403
    staff = app.test_client()
    ui_login(staff, "clerk")
    for url in ("/admin/org", "/admin/org/330106001", "/admin/org/roster", "/admin/roles"):
        assert staff.get(url).status_code == 403, url


def test_a_role_is_renamed_on_its_row(client, directory):
    ui_login(client, "admin")
    saved = _form(client, "/admin/roles", {"role": "mediator", "name_zh": "专职调解员", "name_en": "Mediator (full time)"})
    assert saved.status_code == 302
    page = client.get("/admin/roles").get_data(as_text=True)
    assert 'value="专职调解员"' in page and "调解员" in page
    assert "专职调解员" in client.get("/admin/users?role=mediator").get_data(as_text=True)
    client.get("/lang/en")
    assert "Mediator (full time)" in client.get("/admin/users?role=mediator").get_data(as_text=True)
