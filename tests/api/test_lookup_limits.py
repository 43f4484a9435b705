"""The public look-up's limit on failed attempts: per client address (behind a configured proxy, the real one),
and shared by every server process through the database, or Redis when JIEFEN_REDIS_URL is set."""
from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
from sqlalchemy import func, select

from tests.api.test_ui_public import case  # noqa: F401  (the `case` fixture)
from tests.support.web import csrf

# the rate limiter counts in a transaction of its own, which a failed lookup does not roll back
pytestmark = pytest.mark.committed_db

PHONE = "13912345678"


def lookup(client, code: str, phone: str, **environ):
    token = csrf(client.get(f"/lookup?code={code}", environ_base=environ).get_data(as_text=True))
    return client.post("/lookup", data={"code": code, "phone": phone, "csrf_token": token}, environ_base=environ)


@pytest.fixture
def make_app(database_url, rt):
    """make_app(**config): another app on the test database, as a second server process would be."""
    from webui import create_app
    from webui.extensions import db

    made = []

    def _make(**config):
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "JIEFEN_RUNTIME": rt,
                          "SECRET_KEY": "test", "JIEFEN_LOOKUP_MAX_FAILURES": 3, **config})
        made.append(app)
        return app
    yield _make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_two_server_processes_share_the_count(make_app, case):
    first, second = make_app().test_client(), make_app().test_client()
    assert lookup(first, case.code, "1").status_code == 404
    assert lookup(second, case.code, "2").status_code == 404
    assert lookup(first, case.code, "3").status_code == 404
    assert lookup(second, case.code, PHONE).status_code == 429  # the third failure was counted by the other one
    assert lookup(first, case.code, PHONE).status_code == 429


def test_only_failures_count(make_app, case):
    client = make_app().test_client()
    for _ in range(5):
        assert lookup(client, case.code, PHONE).status_code == 200


def test_forwarded_addresses_are_ignored_without_a_trusted_proxy(make_app, case):
    client = make_app().test_client()
    for i in range(3):
        assert lookup(client, case.code, "1", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code == 404
    # every "client" is the proxy's address: nobody may forge their way past the limit
    assert lookup(client, case.code, PHONE, HTTP_X_FORWARDED_FOR="198.51.100.99").status_code == 429


def test_behind_one_trusted_proxy_each_client_has_its_own_count(make_app, case):
    client = make_app(JIEFEN_TRUSTED_PROXIES=1).test_client()
    for _ in range(3):
        assert lookup(client, case.code, "1", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 404
    assert lookup(client, case.code, PHONE, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429
    assert lookup(client, case.code, PHONE, HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 200


def test_the_database_counter_starts_again_after_its_window(db_engine):
    from webui.rate_limit import DatabaseStorage

    storage = DatabaseStorage("jiefen-db://", engine=db_engine)
    try:
        assert storage.incr("k", 600) == 1
        assert storage.incr("k", 600) == 2 and storage.get("k") == 2
        assert storage.incr("gone", 0) == 1  # a window of 0 s is over at once
        assert storage.get("gone") == 0 and storage.incr("gone", 600) == 1
    finally:
        storage.reset()


@pytest.fixture
def redis_url(tmp_path):
    """A real redis-server on a free local port, for this test only."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server): the Redis storage is not tested")
    pytest.importorskip("redis", reason="the redis client package is not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                           "--dir", str(tmp_path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as proc:
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def test_with_redis_the_count_is_kept_there(make_app, case, redis_url, session):
    from engine.models import RateLimitModel

    first = make_app(JIEFEN_REDIS_URL=redis_url).test_client()
    second = make_app(JIEFEN_REDIS_URL=redis_url).test_client()
    for client in (first, second, first):
        assert lookup(client, case.code, "1").status_code == 404
    assert lookup(second, case.code, PHONE).status_code == 429
    assert session.scalar(select(func.count()).select_from(RateLimitModel)) == 0  # not in the database
