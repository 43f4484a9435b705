"""Issue 20 §1, §5 in the browser's pages (Flask test client): /admin/users, a user's page, the forced password
change after a reset, the bulk import (template, dry run with errors per row, apply all or nothing), /admin/log."""
from __future__ import annotations

import csv
import io

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from engine.models import UserModel
from tests.support.web import csrf, ui_login


def _form(client, url: str, data: dict, **kwargs):
    token = csrf(client.get(url).get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


def test_admin_creates_a_user_on_the_form_and_sees_them_listed(client, directory):
    ui_login(client, "admin")
    page = client.get("/admin/users").get_data(as_text=True)
    assert "用户" in page and "新建用户" in page and "从文件导入" in page and "mediator1" in page
    refused = _form(client, "/admin/users/new", {"login": "li.si", "display_name": "李四", "phone": "",
                                                 "password": "password123", "role": "mediator",
                                                 "org_unit": "330106001"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'value="li.si"' in html and "李四" in html and "field-error" in html
    created = _form(client, "/admin/users/new", {"login": "li.si", "display_name": "李四", "phone": "13800001234",
                                                 "password": "Quiet-Harbor-Maple-61", "role": "mediator",
                                                 "org_unit": "330106001"})
    assert created.status_code == 302 and created.headers["Location"].endswith("/admin/users/li.si")
    page = client.get("/admin/users?q=李").get_data(as_text=True)
    assert 'data-login="li.si"' in page and "北山街道综治中心" in page and "从未登录" in page
    assert 'data-login="clerk"' not in page


def test_reset_shows_the_one_time_password_once_and_forces_a_change(client, app, directory):
    ui_login(client, "admin")
    url = "/admin/users/clerk"
    response = _form(client, url, {"what": "reset"})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "一次性密码" in html and "须设置新密码" in html
    one_time = html.split('id="one-time-password">')[1].split("<")[0]
    assert len(one_time) == 19
    assert 'id="one-time-password"' not in client.get(url).get_data(as_text=True)  # shown once
    with client.session_transaction() as cookie:
        assert one_time not in str(dict(cookie))  # never in the session cookie
    other = app.test_client()
    response = ui_login(other, "clerk", one_time)
    assert response.status_code == 302 and "/password" in response.headers["Location"]
    assert other.get("/tasks/").headers["Location"].endswith("/password")  # every page leads there
    assert other.get("/api/v1/tasks").status_code == 403
    page = other.get("/password").get_data(as_text=True)
    assert "您的密码已被管理员重置" in page
    differ = _form(other, "/password", {"password": "Amber-Window-Falcon-27", "password2": "Amber-Window-Falcon-28"})
    assert differ.status_code == 422 and "两次输入不一致" in differ.get_data(as_text=True)
    same = _form(other, "/password", {"password": one_time, "password2": one_time})
    assert same.status_code == 422 and "与当前密码相同" in same.get_data(as_text=True)
    done = _form(other, "/password", {"password": "Amber-Window-Falcon-27", "password2": "Amber-Window-Falcon-27"})
    assert done.status_code == 302
    assert other.get("/tasks/").status_code == 200  # this browser stays logged in
    log = client.get("/admin/log?target=clerk").get_data(as_text=True)
    assert "重置密码" in log and "修改密码" in log


def test_disable_grant_revoke_on_the_users_page(client, app, directory, session):
    ui_login(client, "admin")
    other = app.test_client()
    ui_login(other, "mediator1")
    assert other.get("/tasks/").status_code == 200
    _form(client, "/admin/users/mediator1", {"what": "grant", "role": "supervisor", "org_unit": "330106001"})
    assert other.get("/tasks/").status_code == 200  # a grant ends nothing
    _form(client, "/admin/users/mediator1", {"what": "revoke", "role": "supervisor", "org_unit": "330106001"})
    assert other.get("/tasks/").status_code == 302  # a revoke ends the session
    ui_login(other, "mediator1")
    _form(client, "/admin/users/mediator1", {"what": "disable"})
    assert other.get("/tasks/").status_code == 302
    html = client.get("/admin/users/mediator1").get_data(as_text=True)
    assert "已停用" in html and "停用用户" in html and "变更角色" in html
    refused = _form(client, "/admin/users/admin", {"what": "disable"}, follow_redirects=True)
    assert "管理员不能停用自己的账号" in refused.get_data(as_text=True)


def test_auditor_reads_the_console_but_gets_no_forms_and_staff_are_refused(client, directory):
    ui_login(client, "auditor")
    page = client.get("/admin/users/clerk").get_data(as_text=True)
    assert "基本信息" in page and 'name="what"' not in page
    assert "新建用户" not in client.get("/admin/users").get_data(as_text=True)
    assert client.get("/admin/users/new").status_code == 403
    assert client.get("/admin/users/import").status_code == 403
    assert client.get("/admin/log").status_code == 200
    ui_login(client, "clerk")
    for url in ("/admin/users", "/admin/log", "/admin/users/clerk", "/admin/log/export.csv"):
        assert client.get(url).status_code == 403, url
    assert "系统管理" not in client.get("/tasks/").get_data(as_text=True)


def _xlsx(rows: list[list[str]]) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


HEADER = ["登录名", "姓名", "手机", "初始密码", "角色@单位"]


def _upload(client, data: bytes, name: str, apply: bool):
    return _form(client, "/admin/users/import", {"apply": "1" if apply else "0", "file": (io.BytesIO(data), name)},
                 content_type="multipart/form-data")


def test_import_template_dry_run_errors_per_row_and_all_or_nothing(client, directory, session):
    ui_login(client, "admin")
    template = client.get("/admin/users/import/template.xlsx")
    assert template.status_code == 200
    sheet = load_workbook(io.BytesIO(template.data)).active
    assert [c.value for c in sheet[1]] == HEADER
    csv_template = client.get("/admin/users/import/template.csv").get_data(as_text=True)
    assert next(csv.reader(io.StringIO(csv_template.lstrip("\ufeff")))) == HEADER
    bad = _xlsx([HEADER,
                 ["zhao.liu", "赵六", "13800000001", "", "调解员@北山街道综治中心"],
                 ["qian.qi", "钱七", "not a phone", "", "调解员@330106001"],
                 ["zhao.liu", "赵六", "", "", "调解员@330106001"],
                 ["sun.ba", "孙八", "", "", "巫师@330106001"],
                 ["zhou.jiu", "", "", "", "调解员"],
                 ["clerk", "重名", "", "", "调解员@330106001"]])
    for apply in (False, True):
        response = _upload(client, bad, "staff.xlsx", apply)
        html = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "有 5 行存在错误，未导入任何数据" in html
        for row, column in (("3", "手机"), ("4", "登录名"), ("5", "角色@单位"), ("6", "角色@单位"), ("7", "登录名")):
            assert f"<td data-label=\"行号\">{row}</td><td data-label=\"列\">{column}</td>" in html, (row, column)
        assert session.scalar(select(UserModel).where(UserModel.username == "zhao.liu")) is None
    good = _xlsx([HEADER, ["zhao.liu", "赵六", "13800000001", "", "调解员@北山街道综治中心；窗口受理员@330106000"],
                  ["qian.qi", "钱七", "", "Velvet-Canyon-Otter-44", "mediator@330106001"]])
    checked = _upload(client, good, "staff.xlsx", False)
    assert "全部 2 行均正确" in checked.get_data(as_text=True)
    assert session.scalar(select(UserModel).where(UserModel.username == "zhao.liu")) is None  # a dry run writes nothing
    applied = _upload(client, good, "staff.xlsx", True).get_data(as_text=True)
    assert "已导入 2 位用户" in applied and "文件中的初始密码" in applied
    session.expire_all()
    zhao = session.scalar(select(UserModel).where(UserModel.username == "zhao.liu"))
    assert zhao.must_change_password and {(m.role.name, m.org_unit.code) for m in zhao.memberships} == {
        ("mediator", "330106001"), ("intake_clerk", "330106000")}
    log = client.get("/admin/log?action=user_imported").get_data(as_text=True)
    assert "共 2 条" in log
    # a CSV in UTF-8 works the same; an unreadable file or a wrong header is refused
    again = "\ufeff" + ",".join(HEADER) + "\nzhao.liu,赵六,,,调解员@330106001\n"
    assert "登录名" in _upload(client, again.encode(), "x.csv", False).get_data(as_text=True)
    wrong = _upload(client, b"a,b\n1,2\n", "x.csv", False)
    assert wrong.status_code == 422 and "第一行须为模板的列" in wrong.get_data(as_text=True)
    assert _upload(client, b"\xff\xfe\x00junk", "x.csv", False).status_code == 422


def test_log_page_filters_exports_and_verifies_in_chinese(client, directory):
    ui_login(client, "admin")
    _form(client, "/admin/users/clerk", {"what": "details", "display_name": "受理员小李", "phone": "13900001111"})
    page = client.get("/admin/log?action=user_updated").get_data(as_text=True)
    table = page.split('<table class="list admin-log">')[1].split("</table>")[0]
    assert "修改用户信息" in table and "受理员小李" in table and "user_updated" not in table and "display_name" not in table
    verified = client.get("/admin/log?verify=1").get_data(as_text=True)
    assert "日志链完整" in verified
    export = client.get("/admin/log/export.csv?action=user_updated")
    lines = export.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert export.mimetype == "text/csv" and lines[0].startswith("序号,时间,操作人,操作") and "修改用户信息" in lines[1]
