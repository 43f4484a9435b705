"""Documents of the case file (issue 21 §1) and the dossier: a mediator issues a 调解协议书 from a dispute with two
parties (a repeatable group of the sign_agreement form) and the PDF carries every field 人民调解法 第29条 and 司法部令
第75号 第35条 name; a case lacking fields is refused naming them; a re-issue keeps both versions; later edits never
change an issued document; verify names a tampered PDF; the dossier lists it all and its export is recorded."""
import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from engine.file_store import LocalFileStore
from engine.models import AccessLogModel
from tests.scenario.test_dispute import to_mediation
from tests.support.web import ui_login

PARTIES = [
    {"standing": "applicant", "name": "张三", "sex": "male", "age": 45, "id_number": "330106198001011234",
     "address": "杭州市西湖区文三路1号", "phone": "13800001111"},
    {"standing": "respondent", "name": "李四", "sex": "female", "age": 38, "id_number": "33010619880101234X",
     "address": "杭州市西湖区文三路3号", "phone": "13900002222"},
]
LAW_FIELDS = {"dispute_facts": "李四装修时损坏张三家外墙，双方为赔偿发生争执。", "disputed_issues": "外墙修复费用的承担",
              "responsibility": "李四承担主要责任，张三承担次要责任。", "performance_place": "西湖区人民调解委员会调解室",
              "mediator_name": "王调解"}


@pytest.fixture
def files_dir(rt, tmp_path):
    before = rt.settings.files_dir
    rt.settings.files_dir = str(tmp_path / "files")
    yield tmp_path / "files"
    rt.settings.files_dir = before


def _text(pdf: bytes) -> str:
    return "".join("".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages)


def _issue(c, cid, kind, user="mediator"):
    return c.post(f"/api/v1/cases/{cid}/documents", user, {"kind": kind})


def _agreed_case(c, parties=PARTIES, **law):
    cid = to_mediation(c)
    c.complete(cid, "mediate", "mediator", {"mediation_result": "agreement"})
    c.complete(cid, "sign_agreement", "mediator", {
        "agreement_no": "西调字〔2026〕第15号", "agreement_date": c.day(0), "mediation_org": "西湖区人民调解委员会",
        "agreement_content": "李四于十日内赔偿张三修复费用人民币3000元。", "performance_mode": "by_deadline",
        "performance_due_date": c.day(10), "want_confirmation": False, "parties": parties, **law})
    return cid


def test_a_mediator_issues_the_agreement_with_every_field_the_law_names(center, files_dir):
    c = center
    cid = _agreed_case(c, **LAW_FIELDS)
    response = _issue(c, cid, "mediation_agreement")
    assert response.status_code == 201, response.get_json()
    doc = response.get_json()
    assert (doc["kind"], doc["version"], doc["title"]) == ("mediation_agreement", 1, "人民调解协议书")
    pdf = c.client.get(doc["pdf_url"], headers=c.login("auditor"))
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    stored = LocalFileStore(files_dir).get(doc["sha256"])
    assert stored == pdf.data and stored.startswith(b"%PDF-")
    text = _text(pdf.data)
    for party in PARTIES:  # 当事人的基本情况: name, sex, age, ID number, address, phone — each party
        for value in (party["name"], str(party["age"]), party["id_number"], party["address"], party["phone"]):
            assert value in text, value
    assert "男" in text and "女" in text and "申请人" in text and "被申请人" in text
    for value in LAW_FIELDS.values():  # facts, issues, responsibility, place of performance, mediator
        assert value.replace(" ", "") in text, value
    for value in ("李四于十日内赔偿张三修复费用人民币3000元。", "限期履行", "西湖区人民调解委员会", "西调字〔2026〕第15号",
                  "2026年3月12日",  # the performance deadline (day 10 of the fixed clock), in Chinese
                  "人民调解委员会印章", "签名、盖章或按指印"):  # the signature and seal blocks
        assert value in text, value
    case = c.case(cid)
    assert case["code"] in text  # the case code on the page (and its QR code)
    issued = [e for e in c.events(cid) if e["type"] == "document_issued"]
    assert len(issued) == 1 and issued[0]["actor"] == "mediator"
    assert issued[0]["payload"]["sha256"] == doc["sha256"] and issued[0]["payload"]["version"] == 1
    html = c.client.get(doc["html_url"], headers=c.login("mediator"))
    assert html.status_code == 200 and "人民调解协议书" in html.get_data(as_text=True)
    assert "script-src" not in html.headers["Content-Security-Policy"]
    c.assert_record(cid)


def test_a_case_lacking_fields_is_refused_naming_them(center, files_dir):
    c = center
    one_party = [PARTIES[0], {**PARTIES[1], "id_number": None, "address": None}]
    cid = _agreed_case(c, parties=one_party, dispute_facts="双方因漏水发生争执")
    response = c.client.post(f"/api/v1/cases/{cid}/documents", json={"kind": "mediation_agreement"},
                             headers={**c.login("mediator"), "Accept-Language": "zh-CN"})
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    for label in ("争议事项", "各方当事人的责任", "履行地点", "人民调解员", "当事人（每方一行）第2行：身份证号（统一社会信用代码）、住址"):
        assert label in body["message"], (label, body["message"])
    assert "纠纷主要事实" not in body["message"]  # given
    assert {"disputed_issues", "responsibility", "performance_place", "mediator_name", "parties.2"} <= set(body["details"])
    assert not [e for e in c.events(cid) if e["type"] == "document_issued"]
    assert not files_dir.exists() or not any(p.is_file() for p in files_dir.rglob("*"))
    # a kind for another process, and an unknown kind
    assert _issue(c, cid, "handling_opinion").status_code == 422
    assert _issue(c, cid, "no_such_kind").status_code == 422
    # the case's parties must be at least two
    cid2 = _agreed_case(c, parties=PARTIES[:1], **LAW_FIELDS)
    refused = _issue(c, cid2, "mediation_agreement").get_json()
    assert "parties" in refused["details"] and "至少2方" in refused["message"]


def test_reissue_keeps_both_versions_and_verify_names_a_tampered_pdf(center, files_dir):
    c = center
    cid = _agreed_case(c, **LAW_FIELDS)
    first = _issue(c, cid, "mediation_agreement").get_json()
    # only those who act on the case issue; the auditor reads but may not issue
    assert _issue(c, cid, "mediation_agreement", user="auditor").status_code == 403
    second = _issue(c, cid, "mediation_agreement").get_json()
    assert (first["version"], second["version"]) == (1, 2) and first["id"] != second["id"]
    listed = c.get(f"/api/v1/cases/{cid}/documents", "auditor")
    assert [(d["kind"], d["version"]) for d in listed["items"]] == [("mediation_agreement", 1),
                                                                   ("mediation_agreement", 2)]
    assert listed["kinds"]["mediation_agreement"] == "人民调解协议书" and "handling_opinion" not in listed["kinds"]
    assert c.get(f"/api/v1/cases/{cid}/verify", "auditor")["files_ok"] is True
    # later edits of the case never change an issued document
    store = LocalFileStore(files_dir)
    before = store.get(first["sha256"])
    c.complete(cid, "feedback", "clerk", {"feedback_date": c.day(0), "feedback_method": "phone"})
    assert store.get(first["sha256"]) == before
    assert c.client.get(first["pdf_url"], headers=c.login("mediator")).data == before
    # tamper the stored PDF of version 1: verify names it, and it is never served changed
    store.path_of(first["sha256"]).write_bytes(before.replace(b"%PDF-", b"%PDF-tampered", 1))
    verified = c.get(f"/api/v1/cases/{cid}/verify", "auditor")
    assert verified["files_ok"] is False and verified["chain_ok"] and verified["replay_ok"]
    assert any("人民调解协议书（第1版）" in p and "changed" in p for p in verified["problems"]), verified["problems"]
    assert not any("第2版" in p for p in verified["problems"])
    assert c.client.get(first["pdf_url"], headers=c.login("mediator")).status_code == 404


@pytest.mark.committed_db  # the access log's own transaction outlives the read's
def test_the_dossier_lists_everything_and_its_export_is_recorded(center, files_dir):
    c = center
    cid = _agreed_case(c, **LAW_FIELDS)
    doc = _issue(c, cid, "mediation_agreement").get_json()
    response = c.client.get(f"/api/v1/cases/{cid}/dossier.pdf", headers=c.login("auditor"))
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    text = _text(response.data)
    case = c.case(cid)
    events = c.events(cid)
    for value in (case["code"], "人民调解协议书", "完好", "登记受理", "调解",
                  doc["sha256"],  # the document's hash
                  events[-1]["hash"]):  # the head of the chain
        assert value in text, value
    assert len(events) >= 6
    session = c.session
    logged = session.scalars(select(AccessLogModel.what).where(AccessLogModel.case_id == cid,
                                                               AccessLogModel.username == "auditor")).all()
    assert "dossier" in logged
    # a mediator's export is recorded too; an outsider gets 403
    assert c.client.get(f"/api/v1/cases/{cid}/dossier.pdf", headers=c.login("mediator")).status_code == 200
    assert "dossier" in session.scalars(select(AccessLogModel.what).where(
        AccessLogModel.case_id == cid, AccessLogModel.username == "mediator")).all()


def test_the_case_page_issues_and_lists_documents(center, files_dir, app):
    c = center
    cid = _agreed_case(c, **LAW_FIELDS)
    browser = app.test_client()
    ui_login(browser, "mediator", expect=302)
    page = browser.get(f"/cases/{cid}").get_data(as_text=True)
    assert 'id="documents"' in page and 'name="kind"' in page and "人民调解协议书" in page
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    done = browser.post(f"/cases/{cid}/documents", data={"kind": "mediation_agreement", "csrf_token": token})
    assert done.status_code == 302
    page = browser.get(f"/cases/{cid}").get_data(as_text=True)
    assert 'data-kind="mediation_agreement"' in page and "第 1 版" in page
    refused = browser.post(f"/cases/{cid}/documents", data={"kind": "termination_notice", "csrf_token": token},
                           follow_redirects=True).get_data(as_text=True)
    assert "终止原因" in refused  # the missing field named on the page


def test_a_broken_template_or_a_missing_pdf_engine_refuses_and_stores_nothing(center, files_dir, rt, tmp_path,
                                                                              monkeypatch):
    import shutil
    import sys

    from engine.documents import DEFAULT_DIR

    c = center
    cid = _agreed_case(c, **LAW_FIELDS)
    folder = tmp_path / "documents"
    shutil.copytree(DEFAULT_DIR, folder)
    (folder / "mediation_agreement.html").write_text('{% extends "_base.html" %}\n{% block body %}\n{{ show( }}\n'
                                                     '{% endblock %}\n', encoding="utf-8")
    monkeypatch.setattr(rt.settings, "documents_dir", str(folder))
    refused = _issue(c, cid, "mediation_agreement")
    assert refused.status_code == 422 and "mediation_agreement.html line 3" in refused.get_json()["message"]
    monkeypatch.setattr(rt.settings, "documents_dir", None)
    monkeypatch.setitem(sys.modules, "weasyprint", None)  # as on a machine without WeasyPrint: its import fails
    unavailable = _issue(c, cid, "mediation_agreement")
    assert unavailable.status_code == 503 and "PDF" in unavailable.get_json()["message"]
    assert not [e for e in c.events(cid) if e["type"] == "document_issued"]
    assert not files_dir.exists() or not any(p.is_file() for p in files_dir.rglob("*"))


def test_readers_who_see_numbers_masked_cannot_download_them_whole(center, files_dir):
    """A supervisor or an administrator reads the case (phones and ID numbers masked on screen) and sees the
    documents listed, but the PDF and its print view carry them whole, as the law puts them on the document:
    refused (403); those handling the case and auditors (their reads recorded) download it. The dossier stays
    open to every reader: it shows the data masked as the reader's pages do."""
    c = center
    cid = _agreed_case(c, **LAW_FIELDS)
    doc = _issue(c, cid, "mediation_agreement").get_json()
    for reader in ("supervisor", "admin"):
        listed = c.get(f"/api/v1/cases/{cid}/documents", reader)
        assert [d["id"] for d in listed["items"]] == [doc["id"]]
        for url in (doc["pdf_url"], doc["html_url"]):
            refused = c.client.get(url, headers=c.login(reader))
            assert refused.status_code == 403, (reader, url)
            assert "身份证号" in refused.get_json()["message"] or "ID numbers" in refused.get_json()["message"]
        # the case page lists the document without a link for them
        html = c.client.get(f"/cases/{cid}", headers=c.login(reader)).get_data(as_text=True)
        assert f'data-document-id="{doc["id"]}"' in html and f'/documents/{doc["id"]}.pdf' not in html
        dossier = c.client.get(f"/api/v1/cases/{cid}/dossier.pdf", headers=c.login(reader))
        assert dossier.status_code == 200 and "330106198001011234" not in _text(dossier.data)
    for handler in ("mediator", "auditor"):
        assert c.client.get(doc["pdf_url"], headers=c.login(handler)).status_code == 200, handler
