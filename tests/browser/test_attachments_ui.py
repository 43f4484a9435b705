"""Attachments on the case page in Chromium (issue 21 §2): the clerk uploads a PDF, sees it listed (name, size,
who, when) and in the history, downloads it; a file of another kind is refused with a Chinese message and nothing
is listed; a reader who may not add files sees no form."""
from __future__ import annotations

import hashlib

import pytest
from playwright.sync_api import expect

from engine.file_store import LocalFileStore
from tests.support.cases import registered

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture
def files_dir(rt, tmp_path):
    before = rt.settings.files_dir
    rt.settings.files_dir = str(tmp_path / "files")
    yield tmp_path / "files"
    rt.settings.files_dir = before


def test_upload_a_pdf_on_the_case_page(page, live_server, sign_in, logout, shoot, session, actor, files_dir,
                                       tmp_path):
    case = registered(session, actor("clerk"))
    session.commit()
    pdf = tmp_path / "调解协议书.pdf"
    pdf.write_bytes(PDF)
    fake = tmp_path / "照片.jpg"
    fake.write_bytes(b"<html><script>alert(1)</script></html>")

    sign_in(page, "clerk")
    page.goto(f"{live_server}/cases/{case.id}")
    section = page.locator("#attachments")
    expect(section).to_contain_text("暂无附件")
    page.set_input_files("#attachment-file", str(fake))
    page.click("#attachments button[type=submit]")
    expect(page.locator(".flash-error")).to_contain_text("不支持此类文件")
    expect(section).to_contain_text("暂无附件")

    page.set_input_files("#attachment-file", str(pdf))
    page.click("#attachments button[type=submit]")
    expect(page.locator(".flash-ok")).to_contain_text("已上传附件：调解协议书.pdf")
    item = section.locator("li[data-attachment-id]")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("调解协议书.pdf")
    expect(item).to_contain_text("PDF")
    expect(page.locator(".timeline")).to_contain_text("上传附件")
    assert LocalFileStore(files_dir).get(hashlib.sha256(PDF).hexdigest()) == PDF
    with page.expect_download() as got:
        item.locator("a.attachment-name").click()
    assert got.value.suggested_filename == "调解协议书.pdf"
    assert got.value.path().read_bytes() == PDF
    shoot(page, "70-case-attachments")

    logout(page)
    sign_in(page, "auditor")
    page.goto(f"{live_server}/cases/{case.id}")
    expect(section.locator("li[data-attachment-id]")).to_have_count(1)
    expect(page.locator("#attachment-file")).to_have_count(0)
