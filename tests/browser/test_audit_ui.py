"""The auditor's workspace in Chromium (issue 21 §3, §4 and its "Done when"): a mediator adds a file on the task
page; the auditor lands on /audit, finds the case by a code typed in groups with full-width digits, steps its
replay and sees the waiting element change on the diagram, finds it verified, downloads the dossier and sees the
file's hash in the history; after a row is tampered in the database the verify names the broken record. The
diagram's buttons (zoom, fit, full screen) and its drill-down into a called process; the access log."""
from __future__ import annotations

import hashlib

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from engine.models import CaseEventModel
from engine.services import cases, processes
from engine.services.users import SYSTEM
from tests.support.caller import CALLER
from tests.support.cases import registered

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def files_dir(rt, tmp_path):
    before = rt.settings.files_dir
    rt.settings.files_dir = str(tmp_path / "files")
    yield tmp_path / "files"
    rt.settings.files_dir = before


def _typed(code: str) -> str:
    wide = code.translate({ord(d): ord(d) - ord("0") + ord("０") for d in "0123456789"})
    return " ".join(wide[i:i + 4] for i in range(0, len(wide), 4))


def test_an_auditor_finds_replays_verifies_and_exports_a_case(page, live_server, sign_in, logout, shoot, session,
                                                                actor, files_dir, tmp_path):
    case = registered(session, actor("clerk"))
    registered(session, actor("clerk"))  # another case the search must leave out
    session.commit()
    mediate = next(t for t in cases.open_tasks(session, case.id) if t.spec_name == "mediate")
    evidence = tmp_path / "现场照片说明.pdf"
    evidence.write_bytes(PDF)
    digest = hashlib.sha256(PDF).hexdigest()

    # the mediator adds evidence on the task page; what they typed in the form stays
    sign_in(page, "mediator1")
    page.goto(f"{live_server}/tasks/{mediate.id}")
    page.check("input[name=result][value=agreed]")
    fake = tmp_path / "照片.jpg"
    fake.write_bytes(b"<html><script>alert(1)</script></html>")
    page.set_input_files("#task-attachment-file", str(fake))
    page.click("#task-upload button[type=submit]")
    expect(page.locator("#task-upload-result")).to_contain_text("不支持此类文件")
    expect(page.locator("#task-upload-result")).to_have_attribute("role", "alert")
    page.set_input_files("#task-attachment-file", str(evidence))
    page.click("#task-upload button[type=submit]")
    expect(page.locator("#task-upload-result")).to_contain_text("已上传附件：现场照片说明.pdf")
    item = page.locator("#task-attachment-list li[data-attachment-id]")
    expect(item).to_have_count(1)
    expect(item).to_contain_text(digest)
    expect(page.locator("input[name=result][value=agreed]")).to_be_checked()  # the form was not reloaded
    shoot(page, "a-01-task-attachment")
    logout(page)

    # the auditor lands on the workspace and finds the case by a code typed in groups, full-width
    sign_in(page, "auditor")
    expect(page).to_have_url(f"{live_server}/audit")
    expect(page.locator("nav.mainnav a[aria-current=page]")).to_have_text("审计")
    page.fill("input[name=q]", _typed(case.code))
    page.click("form.audit-filters button[type=submit]")
    rows = page.locator("table.audit-cases tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-case-code", case.code)
    shoot(page, "a-02-audit-cases")
    rows.first.locator("a.code").click()

    # verified, and the replay steps: the waiting element on the diagram changes
    expect(page.locator("section.verification")).to_have_class("card verification is-intact")
    box = page.locator("#replay-diagram")
    expect(box).to_have_attribute("data-state", "ready", timeout=20000)
    expect(page.locator("g.djs-element.jf-open[data-element-id=mediate]")).to_have_count(1)
    page.fill("#replay-slider", "1")
    page.dispatch_event("#replay-slider", "input")
    expect(page.locator(".replay")).to_have_attribute("data-step", "1")
    expect(page.locator("g.djs-element.jf-open[data-element-id=intake]")).to_have_count(1)
    expect(page.locator("g.djs-element.jf-open[data-element-id=mediate]")).to_have_count(0)
    page.click("#replay-next")
    expect(page.locator(".replay")).to_have_attribute("data-step", "2")

    # the diagram's buttons: zoom in and out, fit, full screen and back
    fit_zoom = float(page.evaluate("() => document.querySelector('#replay-diagram').getAttribute('data-zoom') || 0"))
    page.click(".diagram-zoom-in")
    zoomed = float(box.get_attribute("data-zoom"))
    assert zoomed > fit_zoom
    page.click(".diagram-zoom-out")
    assert float(box.get_attribute("data-zoom")) < zoomed
    page.click(".diagram-fit")
    page.click(".diagram-full")
    expect(page.locator(".diagram-full")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("() => document.fullscreenElement !== null || "
                         "document.querySelector('.diagram-frame.is-fullscreen') !== null")
    page.click(".diagram-full")
    expect(page.locator(".diagram-full")).to_have_attribute("aria-pressed", "false")
    shoot(page, "a-03-replay-viewer")

    # the dossier downloads as a PDF
    with page.expect_download() as got:
        page.click("#dossier-button")
    assert got.value.path().read_bytes()[:5] == b"%PDF-"
    assert got.value.suggested_filename == f"dossier-{case.code}.pdf"

    # the history shows the file with its hash
    page.goto(f"{live_server}/cases/{case.id}")
    expect(page.locator(".timeline .event-attachment_added")).to_contain_text(digest)

    # the records of every case: attachments added, exported as CSV
    page.goto(f"{live_server}/audit?tab=events")
    page.select_option("select[name=kind]", "attachment_added")
    page.click("form.audit-filters button[type=submit]")
    expect(page.locator("table.audit-events tbody tr")).to_have_count(1)
    expect(page.locator("table.audit-events tbody tr")).to_contain_text(case.code)
    shoot(page, "a-04-audit-records")
    with page.expect_download() as got:
        page.click("#events-export")
    text = got.value.path().read_bytes().decode("utf-8-sig")
    assert text.splitlines()[0].startswith("时间,案件编号,记录序号,记录类型") and "上传附件" in text

    # a record changed behind jiefen's back: the verify names it
    event = session.query(CaseEventModel).filter_by(case_id=case.id, seq=3).one()
    session.execute(update(CaseEventModel).where(CaseEventModel.id == event.id)
                    .values(payload={**event.payload, "tampered": True}))
    session.commit()
    page.goto(f"{live_server}/audit/cases/{case.id}")
    expect(page.locator("section.verification")).to_have_class("card verification is-broken")
    expect(page.locator("section.verification")).to_have_attribute("data-first-broken", "3")
    expect(page.locator(".first-broken")).to_contain_text("最早断裂处：第 3 条记录")
    shoot(page, "a-05-replay-broken")
    logout(page)

    # the administrator reads who looked at it
    sign_in(page, "admin")
    page.goto(f"{live_server}/admin/access-log")
    rows = page.locator("table.access-log tbody tr")
    expect(rows.filter(has_text="导出卷宗")).to_have_count(1)
    expect(rows.filter(has_text="核验与回放").first).to_contain_text(case.code)
    page.fill("input[name=user]", "auditor")
    page.fill("input[name=case]", case.code)
    page.click("form.filters button[type=submit]")
    expect(rows.filter(has_text="admin")).to_have_count(0)
    shoot(page, "a-06-access-log")


def test_the_case_diagram_drills_down_into_a_called_process(page, live_server, sign_in, shoot, session, actor):
    processes.deploy(session, {"caller.bpmn": CALLER.encode("utf-8")}, SYSTEM)
    case = cases.start_case(session, "caller", {}, actor("clerk"))
    session.commit()
    sign_in(page, "clerk")
    page.goto(f"{live_server}/cases/{case.id}")
    box = page.locator("#diagram")
    expect(box).to_have_attribute("data-state", "ready", timeout=20000)
    expect(page.locator(".diagram-toolbar button")).to_have_count(4)
    expect(page.locator(".diagram-zoom-in")).to_have_attribute("aria-label", "放大")
    drill = page.locator(".diagram-drill[data-process=small_mediation]")
    expect(drill).to_contain_text("展开子流程")
    drill.click()
    expect(box).to_have_attribute("data-process", "small_mediation")
    expect(box).to_have_attribute("data-state", "ready")
    expect(page.locator(".diagram-where")).to_have_text("主流程 › 小型调解（测试）")
    expect(page.locator("g.djs-element.jf-open[data-element-id=intake]")).to_have_count(1)
    shoot(page, "a-07-drilldown")
    page.click(".diagram-back")
    expect(box).to_have_attribute("data-process", "")
    expect(page.locator("g.djs-element[data-element-id=call_mediation]")).to_have_count(1)
