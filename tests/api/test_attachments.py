"""Attachments (issue 21 §2): upload, list, download; refusals by content, size, count and role; verify
checking every stored file against its recorded hash."""
import io

import pytest

from engine.file_store import LocalFileStore, sniff
from tests.support.web import ui_login

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40


@pytest.fixture
def files_dir(rt, tmp_path):
    before = (rt.settings.files_dir, rt.settings.attachment_max_bytes, rt.settings.attachments_per_case)
    rt.settings.files_dir = str(tmp_path / "files")
    yield tmp_path / "files"
    rt.settings.files_dir, rt.settings.attachment_max_bytes, rt.settings.attachments_per_case = before


def _open(client, headers):
    response = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _upload(client, headers, case_id, data, name="协议.pdf", task_id=None):
    form = {"file": (io.BytesIO(data), name)}
    if task_id:
        form["task_id"] = task_id
    return client.post(f"/api/v1/cases/{case_id}/attachments", data=form, headers=headers,
                       content_type="multipart/form-data")


def test_upload_list_download_and_the_chain_event(client, login, files_dir):
    clerk = login("clerk")
    case = _open(client, clerk)
    task_id = case["tasks"][0]["id"]
    response = _upload(client, clerk, case["id"], PDF, name="../../调解协议书.pdf", task_id=task_id)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["name"], body["size"], body["type"], body["task_id"]) == ("调解协议书.pdf", len(PDF),
                                                                          "application/pdf", task_id)
    assert body["sha256"] == LocalFileStore(files_dir).put(PDF)  # content-addressed: stored once
    assert LocalFileStore(files_dir).get(body["sha256"]) == PDF

    listed = client.get(f"/api/v1/cases/{case['id']}/attachments", headers=login("mediator1")).get_json()["items"]
    assert [(a["id"], a["uploaded_by"]) for a in listed] == [(body["id"], "clerk")]

    download = client.get(body["download_url"], headers=login("auditor"))
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "%E8%B0%83%E8%A7%A3" in download.headers["Content-Disposition"]  # 调解, RFC 5987-encoded
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download.headers["Content-Security-Policy"]

    events = client.get(f"/api/v1/cases/{case['id']}/events", headers=clerk).get_json()["items"]
    added = [e for e in events if e["type"] == "attachment_added"]
    assert len(added) == 1 and added[0]["actor"] == "clerk" and added[0]["task_id"] == task_id
    assert {k: added[0]["payload"][k] for k in ("sha256", "size", "type")} == {
        "sha256": body["sha256"], "size": len(PDF), "type": "application/pdf"}
    verified = client.get(f"/api/v1/cases/{case['id']}/verify", headers=clerk).get_json()
    assert verified["chain_ok"] and verified["replay_ok"] and verified["files_ok"], verified


def test_type_is_judged_by_content_not_name(client, login, files_dir):
    clerk = login("clerk")
    case = _open(client, clerk)
    for data, name in ((b"<html><script>alert(1)</script></html>", "evidence.pdf"),
                       (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 50, "photo.jpg"),
                       (b"PK\x03\x04" + b"\x00" * 40, "scan.png")):
        response = _upload(client, {**clerk, "Accept-Language": "zh-CN"}, case["id"], data, name=name)
        assert response.status_code == 422, (name, response.get_json())
        assert "不支持此类文件" in response.get_json()["message"]
    assert not files_dir.exists() or not any(p.is_file() for p in files_dir.rglob("*"))  # nothing stored
    assert client.get(f"/api/v1/cases/{case['id']}/attachments", headers=clerk).get_json()["items"] == []
    # a PNG named .txt is a PNG
    response = _upload(client, clerk, case["id"], PNG, name="notes.txt")
    assert response.status_code == 201 and response.get_json()["type"] == "image/png"
    text = _upload(client, clerk, case["id"], "现场笔录：双方到场。\n".encode(), name="笔录.txt")
    assert text.get_json()["type"] == "text/plain"
    got = client.get(text.get_json()["download_url"], headers=clerk)
    assert got.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_size_and_count_limits(client, login, files_dir, rt):
    clerk = login("clerk")
    case = _open(client, clerk)
    rt.settings.attachment_max_bytes = 100
    response = _upload(client, clerk, case["id"], PDF + b"x" * 100)
    assert response.status_code == 422 and "file" in response.get_json()["details"]
    rt.settings.attachment_max_bytes, rt.settings.attachments_per_case = 1024, 2
    assert _upload(client, clerk, case["id"], PDF).status_code == 201
    assert _upload(client, clerk, case["id"], PNG).status_code == 201
    third = _upload(client, clerk, case["id"], PDF + b"%more")
    assert third.status_code == 422 and "已达上限" in third.get_json()["message"]
    assert len(client.get(f"/api/v1/cases/{case['id']}/attachments", headers=clerk).get_json()["items"]) == 2
    assert _upload(client, clerk, case["id"], b"").status_code == 422
    missing = client.post(f"/api/v1/cases/{case['id']}/attachments", data={}, headers=clerk,
                          content_type="multipart/form-data")
    assert missing.status_code == 422 and "file" in missing.get_json()["details"]


def test_a_larger_file_than_a_json_body_and_idempotent_retries(client, login, files_dir):
    clerk = login("clerk")
    case = _open(client, clerk)
    big = PDF + b"%" + b"x" * (3 * 1024 * 1024)  # beyond the 1 MiB body limit of JSON requests
    # encoded here: werkzeug's test client would spool a body this large to a file it never closes
    body = (b"--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.pdf\"\r\n"
            b"Content-Type: application/pdf\r\n\r\n" + big + b"\r\n--B--\r\n")
    response = client.post(f"/api/v1/cases/{case['id']}/attachments", data=body, headers=clerk,
                           content_type="multipart/form-data; boundary=B")
    assert response.status_code == 201 and response.get_json()["size"] == len(big)
    keyed = {**clerk, "Idempotency-Key": "upload-1"}
    first = _upload(client, keyed, case["id"], PNG, name="p.png")
    again = _upload(client, keyed, case["id"], PNG, name="p.png")
    assert first.status_code == again.status_code == 201 and first.get_json()["id"] == again.get_json()["id"]
    other = _upload(client, keyed, case["id"], PDF, name="p.png")  # the same key with another file
    assert other.status_code == 422
    assert len(client.get(f"/api/v1/cases/{case['id']}/attachments", headers=clerk).get_json()["items"]) == 2


def test_who_may_upload_and_read(client, login, files_dir):
    clerk = login("clerk")
    case = _open(client, clerk)
    task_id = case["tasks"][0]["id"]
    # reads the case but neither acts on the task nor handles the case
    assert _upload(client, login("auditor"), case["id"], PDF).status_code == 403
    assert _upload(client, login("auditor"), case["id"], PDF, task_id=task_id).status_code == 403
    # may not read the case at all
    outsider = login("township_mediator")
    assert _upload(client, outsider, case["id"], PDF).status_code == 403
    added = _upload(client, clerk, case["id"], PDF).get_json()
    assert client.get(f"/api/v1/cases/{case['id']}/attachments", headers=outsider).status_code == 403
    assert client.get(added["download_url"], headers=outsider).status_code == 403
    # a handling role of the case (the process's role at its unit) may add to the case, not to another's task
    assert _upload(client, login("mediator1"), case["id"], PNG).status_code == 201
    assert _upload(client, login("mediator1"), case["id"], PNG, task_id=task_id).status_code == 403
    assert _upload(client, clerk, case["id"], PDF, task_id="no-such-task").status_code == 404
    assert client.get("/api/v1/attachments/999999", headers=clerk).status_code == 404


def test_verify_names_a_changed_or_missing_file(app, client, login, files_dir):
    clerk = login("clerk")
    case = _open(client, clerk)
    first = _upload(client, clerk, case["id"], PDF, name="a.pdf").get_json()
    second = _upload(client, clerk, case["id"], PNG, name="b.png").get_json()
    store = LocalFileStore(files_dir)
    store.path_of(first["sha256"]).write_bytes(PDF.replace(b"Catalog", b"Catalox"))
    store.path_of(second["sha256"]).unlink()
    verified = client.get(f"/api/v1/cases/{case['id']}/verify", headers=clerk).get_json()
    assert verified["files_ok"] is False and verified["chain_ok"] and verified["replay_ok"]
    assert any("a.pdf" in p and "changed" in p for p in verified["problems"]), verified["problems"]
    assert any("b.png" in p and "missing" in p for p in verified["problems"]), verified["problems"]
    assert client.get(first["download_url"], headers=clerk).status_code == 404  # never served changed
    # the auditor's 核验 page says so, naming the files
    auditor = app.test_client()
    ui_login(auditor, "auditor", expect=302)
    html = auditor.get(f"/audit/cases/{case['id']}").get_data(as_text=True)
    assert "is-broken" in html and "附件文件缺失或被改动：a.pdf、b.png" in html


@pytest.mark.parametrize("data, expected", [
    (PDF, "application/pdf"), (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"), (PNG, "image/png"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"), (b"\xff\xfb\x90\x64" + b"\x00" * 20, "audio/mpeg"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt ", "audio/wav"), (b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "audio/mp4"),
    ("纯文本\tline\r\n".encode(), "text/plain"), (b"<!DOCTYPE html><p>x", None), (b"<svg onload=x>", None),
    (b"\x00\x00\x00\x20ftypisom", None), (b"text with a \x00 NUL", None), (b"\xff\xfe\x00", None), (b"", None)])
def test_sniff(data, expected):
    assert sniff(data) == expected


def _task_page_upload(browser, task_id, data, name, as_json=True):
    html = browser.get(f"/tasks/{task_id}").get_data(as_text=True)
    token = html.split('name="csrf_token" value="')[1].split('"')[0]
    return browser.post(f"/tasks/{task_id}/attachments", data={"file": (io.BytesIO(data), name), "csrf_token": token},
                        content_type="multipart/form-data",
                        headers={"Accept": "application/json"} if as_json else {})


def test_the_task_page_uploads_on_its_task_lists_them_and_says_why_a_file_is_refused(app, client, login, files_dir,
                                                                                     rt):
    case = _open(client, login("clerk"))
    task_id = case["tasks"][0]["id"]
    browser = app.test_client()
    ui_login(browser, "clerk", expect=302)
    page = browser.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert 'id="task-upload"' in page and "本任务尚未添加附件" in page
    done = _task_page_upload(browser, task_id, PDF, "签字协议.pdf")
    assert done.status_code == 201
    body = done.get_json()
    assert body["ok"] and body["message"] == "已上传附件：签字协议.pdf" and len(body["item"]["sha256"]) == 64
    listed = client.get(f"/api/v1/cases/{case['id']}/attachments", headers=login("clerk")).get_json()["items"]
    assert [(a["name"], a["task_id"], a["sha256"]) for a in listed] == [("签字协议.pdf", task_id, body["item"]["sha256"])]
    events = client.get(f"/api/v1/cases/{case['id']}/events", headers=login("clerk")).get_json()["items"]
    added = [e for e in events if e["type"] == "attachment_added"]
    assert added[0]["task_id"] == task_id and added[0]["payload"]["sha256"] == body["item"]["sha256"]
    page = browser.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert "签字协议.pdf" in page and body["item"]["sha256"] in page
    # refused: a program disguised as a PDF, said plainly; nothing added
    refused = _task_page_upload(browser, task_id, b"MZ\x90\x00 not a pdf", "证据.pdf")
    assert refused.status_code == 422 and not refused.get_json()["ok"]
    assert refused.get_json()["message"].startswith("不支持此类文件")
    # without the script: a redirect back to the task page with the message
    plain = _task_page_upload(browser, task_id, b"", "空.pdf", as_json=False)
    assert plain.status_code == 302 and plain.headers["Location"].endswith(f"/tasks/{task_id}#task-attachments")
    assert "文件为空" in browser.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert len(client.get(f"/api/v1/cases/{case['id']}/attachments", headers=login("clerk")).get_json()["items"]) == 1
    # someone who may not act on the task gets no form and a 403
    other = app.test_client()
    ui_login(other, "mediator1", expect=302)
    assert 'id="task-upload"' not in other.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert _task_page_upload(other, task_id, PDF, "x.pdf").status_code == 403
