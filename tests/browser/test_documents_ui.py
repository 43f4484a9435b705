"""Documents and the dossier in Chromium (issue 21 §1, §3): the clerk issues the 受理回执 from the case page's 文书
card, sees it listed with its version and SHA-256 and downloads the PDF; issuing again lists version 2 beside
version 1; the auditor, who may not issue, downloads the case's dossier from the verify page."""
from __future__ import annotations

import hashlib
import io

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.support.cases import registered


@pytest.fixture
def files_dir(rt, tmp_path):
    before = rt.settings.files_dir
    rt.settings.files_dir = str(tmp_path / "files")
    yield tmp_path / "files"
    rt.settings.files_dir = before


def _text(data: bytes) -> str:
    return "".join("".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(data)).pages)


def test_issue_a_document_and_download_the_dossier(page, live_server, sign_in, logout, shoot, session, actor,
                                                   files_dir):
    case = registered(session, actor("clerk"))
    session.commit()

    sign_in(page, "clerk")
    page.goto(f"{live_server}/cases/{case.id}")
    card = page.locator("#documents")
    expect(card).to_contain_text("尚未出具文书")
    page.select_option("#document-kind", "receipt")
    page.click("#documents button[type=submit]")
    expect(page.locator(".flash-ok")).to_contain_text("已出具：受理回执（第 1 版）")
    item = card.locator("li[data-kind=receipt]")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("第 1 版")
    with page.expect_download() as got:
        item.locator("a.document-name").click(modifiers=["Alt"])  # Alt+click saves a link (it opens inline)
    pdf = got.value.path().read_bytes()
    assert pdf.startswith(b"%PDF-") and hashlib.sha256(pdf).hexdigest() in item.inner_text().replace("\n", "")
    assert case.code in _text(pdf) and "受理回执" in _text(pdf) and "张三" in _text(pdf)
    page.select_option("#document-kind", "receipt")
    page.click("#documents button[type=submit]")
    expect(card.locator("li[data-kind=receipt]")).to_have_count(2)
    expect(card).to_contain_text("第 2 版")
    expect(page.locator(".timeline")).to_contain_text("出具文书")
    shoot(page, "71-case-documents")

    logout(page)
    sign_in(page, "auditor")
    page.goto(f"{live_server}/cases/{case.id}")
    expect(card.locator("li[data-kind=receipt]")).to_have_count(2)
    expect(page.locator("#document-kind")).to_have_count(0)  # reads, may not issue
    page.goto(f"{live_server}/audit/cases/{case.id}")
    with page.expect_download() as got:
        page.click("#dossier-button")
    dossier = _text(got.value.path().read_bytes())
    assert got.value.suggested_filename == f"dossier-{case.code}.pdf"
    assert "案件卷宗" in dossier and "完好" in dossier and "受理回执" in dossier
    shoot(page, "72-audit-dossier-button")
