"""Browser tests: the app served by werkzeug in a thread, Debian's chromium driven by pytest-playwright."""
from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.support import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# pytest-playwright empties test-results/ when a run starts; JIEFEN_SCREENSHOT_DIR keeps them elsewhere.
SCREENSHOTS = Path(os.environ.get("JIEFEN_SCREENSHOT_DIR")
                   or Path(__file__).resolve().parents[2] / "test-results" / "screenshots")
DESKTOP = {"width": 1366, "height": 768}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's chromium (Playwright never downloads a browser here); no chromium, no browser tests."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def base_url():
    """Ours, not pytest-playwright's fallback: that one is a plugin-instance fixture, which pytest 9 deprecates
    (a warning, and warnings are errors here). The live server's address differs per test anyway."""
    return None


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": DESKTOP, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}


@pytest.fixture
def page(page):
    """pytest-playwright's page, failing the test on any script error or console error on our pages."""
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("console", lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error"
            and "status of 4" not in msg.text else None)
    yield page
    assert not problems, problems


@pytest.fixture
def live_server(committed_db, directory, app):
    """The test app on 127.0.0.1 and a free port, one request at a time (the test database is SQLite). Committed
    mode: the server thread opens its own connections, which must see what the test committed."""
    with serving(app) as url:
        yield url


@contextlib.contextmanager
def serving(app):
    """The app on 127.0.0.1 and a free port in a thread, one request at a time; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=False)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def shoot():
    """shoot(page, name): full-page screenshots at 1366×768 and at phone size into test-results/screenshots/."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def _shoot(page, name: str) -> None:
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            page.wait_for_timeout(300)  # the case diagram refits after a resize
            page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
        page.set_viewport_size(DESKTOP)

    return _shoot


@pytest.fixture
def sign_in(live_server):
    """sign_in(page, username): the browser page logs in through the form (the API's `login` gives headers)."""
    def _sign_in(page, username: str, password: str = PASSWORD) -> None:
        page.goto(f"{live_server}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("form.stack button[type=submit]")
        # staff land on their tasks, an auditor on the audit workspace
        page.wait_for_url(lambda url: url in (f"{live_server}/tasks/", f"{live_server}/audit"))

    return _sign_in


@pytest.fixture
def logout():
    def _logout(page) -> None:
        page.click("form.logout button[type=submit]")
        page.wait_for_url("**/login")

    return _logout
