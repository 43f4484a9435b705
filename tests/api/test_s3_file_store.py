"""The S3-compatible file store (JIEFEN_FILES_STORE=s3), against a local S3 server: moto's server mode, started
in a thread when moto and boto3 are installed (`pip install boto3 "moto[server]"`), else skipped with a message.
Upload, download and verify through the API with the bytes in the bucket; a changed or removed object is named by
verify; an unreachable store answers 503; a store misconfigured fails at start with what to set."""
from __future__ import annotations

import builtins
import hashlib
import io

import pytest

from engine import file_store

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
BUCKET = "jiefen-files"


@pytest.fixture(scope="module")
def s3_server():
    try:
        import boto3  # noqa: F401
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        pytest.skip(f"no local S3 server: boto3 and moto[server] are not installed ({exc}); "
                    "pip install boto3 'moto[server]' to run these tests")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(rt, s3_server):
    """The runtime's file store switched to the local S3 server (a fresh bucket), and back afterwards."""
    import boto3

    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    client.create_bucket(Bucket=BUCKET)
    names = ("files_store", "s3_bucket", "s3_prefix", "s3_endpoint_url", "s3_region", "s3_access_key_id",
             "s3_secret_access_key")
    before = {n: getattr(rt.settings, n) for n in names}
    rt.settings.files_store, rt.settings.s3_bucket, rt.settings.s3_prefix = "s3", BUCKET, "cases/"
    rt.settings.s3_endpoint_url, rt.settings.s3_region = s3_server, "us-east-1"
    rt.settings.s3_access_key_id = rt.settings.s3_secret_access_key = "test"
    file_store._s3_store.cache_clear()
    yield client
    for n, v in before.items():
        setattr(rt.settings, n, v)
    file_store._s3_store.cache_clear()
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _case(client, headers):
    response = client.post("/api/v1/cases", json={"process_id": "small_mediation", "data": {}}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _upload(client, headers, case_id, data, name="协议.pdf"):
    return client.post(f"/api/v1/cases/{case_id}/attachments", data={"file": (io.BytesIO(data), name)},
                       headers=headers, content_type="multipart/form-data")


def test_files_go_to_the_bucket_and_verify_hashes_them_there(client, login, s3):
    clerk = login("clerk")
    case = _case(client, clerk)
    digest = hashlib.sha256(PDF).hexdigest()
    response = _upload(client, clerk, case["id"], PDF)
    assert response.status_code == 201 and response.get_json()["sha256"] == digest
    key = f"cases/{digest[:2]}/{digest}"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == PDF
    assert _upload(client, clerk, case["id"], PDF, "again.pdf").status_code == 201  # the same bytes, one object
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [key]
    att = response.get_json()["id"]
    download = client.get(f"/api/v1/attachments/{att}", headers=clerk)
    assert download.status_code == 200 and download.data == PDF
    auditor = login("auditor")
    assert client.get(f"/api/v1/cases/{case['id']}/verify", headers=auditor).get_json()["files_ok"] is True

    s3.put_object(Bucket=BUCKET, Key=key, Body=PDF.replace(b"Catalog", b"Catalag"), Metadata={"sha256": digest})
    verify = client.get(f"/api/v1/cases/{case['id']}/verify", headers=auditor).get_json()
    assert verify["files_ok"] is False and any("no longer hashes" in p for p in verify["problems"])
    assert client.get(f"/api/v1/attachments/{att}", headers=clerk).status_code == 404  # never served changed

    s3.delete_object(Bucket=BUCKET, Key=key)
    verify = client.get(f"/api/v1/cases/{case['id']}/verify", headers=auditor).get_json()
    assert any("missing from the file store" in p for p in verify["problems"])


def test_an_unreachable_store_answers_503_and_keeps_nothing(client, login, s3, rt, session):
    rt.settings.s3_endpoint_url = "http://127.0.0.1:9"  # nothing listens there
    file_store._s3_store.cache_clear()
    clerk = login("clerk")
    case = _case(client, clerk)
    response = _upload(client, clerk, case["id"], PDF)
    assert response.status_code == 503
    assert "文件存储" in response.get_json()["message"] or "file store" in response.get_json()["message"]
    assert client.get(f"/api/v1/cases/{case['id']}/attachments", headers=clerk).get_json()["items"] == []


def test_s3_without_boto3_says_so(rt, monkeypatch):
    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name == "boto3" or name.startswith("botocore"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", refuse)
    file_store._s3_store.cache_clear()
    from engine.errors import Unavailable
    with pytest.raises(Unavailable, match="boto3"):
        file_store._s3_store("b", "", None, None, None, None)
    file_store._s3_store.cache_clear()


@pytest.mark.parametrize("config, problem", [({"JIEFEN_FILES_STORE": "ftp"}, "use \"local\""),
                                             ({"JIEFEN_FILES_STORE": "s3"}, "needs JIEFEN_S3_BUCKET")])
def test_a_misconfigured_store_fails_at_start_saying_what_to_set(config, problem):
    from webui import FileStoreMisconfigured, _files_store

    with pytest.raises(FileStoreMisconfigured, match=problem):
        _files_store(config)
    assert _files_store({"JIEFEN_FILES_STORE": "S3", "JIEFEN_S3_BUCKET": "b"}) == "s3"
    assert _files_store({}) == "local"
