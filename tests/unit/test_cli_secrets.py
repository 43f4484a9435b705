"""The `jiefen` command and secrets: no server on a published key, the demo's own key, users and tokens."""
from __future__ import annotations

import os
import select
import signal
import socket
import stat
import subprocess
import time

import pytest

from tests.conftest import ROOT
from tests.unit.test_cli import JIEFEN

# The console command runs against a SQLite file of its own (the `run` fixture sets DATABASE_URL), whatever the
# suite's database: the SQLite run covers it, and the PostgreSQL run (make test-pg) would only repeat it.
pytestmark = pytest.mark.skipif(os.environ.get("DATABASE_URL", "").startswith("postgresql"),
                                reason="runs on its own SQLite file; covered by the SQLite run")

STRONG = "Operator-Pass-2026"


@pytest.fixture
def env(tmp_path):
    """The environment of an operator who set nothing: no key, no demo mode, an own SQLite file."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "JIEFEN_DATABASE_URL", "JIEFEN_SECRET_KEY", "JIEFEN_DEMO", "JIEFEN_REDIS_URL")}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    env["JIEFEN_SECRET_KEY_FILE"] = str(tmp_path / "instance" / "secret_key")
    return env


@pytest.fixture
def run(env):
    def _run(*args, ok=True, timeout=120, **extra):
        result = subprocess.run([JIEFEN, *args], cwd=ROOT, env={**env, **extra}, capture_output=True, text=True,
                                timeout=timeout)
        if ok:
            assert result.returncode == 0, result.stderr
        return result
    return _run


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("command, key", [(["serve", "--port", "0"], None),
                                          (["serve", "--port", "0"], "dev-only-change-me"),
                                          (["scheduler"], None), (["scheduler"], "short")])
def test_a_server_refuses_to_start_without_a_safe_secret_key(run, command, key):
    extra = {"JIEFEN_SECRET_KEY": key} if key is not None else {}
    try:
        result = run(*command, ok=False, timeout=30, **extra)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`jiefen {' '.join(command)}` started on secret key {key!r}")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "JIEFEN_SECRET_KEY" in lines[0] and "export JIEFEN_SECRET_KEY=" in lines[0]


def _serve_until_listening(env: dict, port: int) -> str:
    """Start `jiefen serve`, wait for its start-up line, stop it (SIGTERM to the process started here)."""
    output = ""
    with subprocess.Popen([JIEFEN, "serve", "--port", str(port)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        try:
            deadline = time.monotonic() + 60
            while "jiefen on http" not in output and time.monotonic() < deadline and proc.poll() is None:
                ready, _, _ = select.select([proc.stdout], [], [], 1)
                if ready:
                    output += proc.stdout.readline()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    return output


def test_demo_mode_keeps_a_random_key_of_its_own(env, tmp_path):
    key_file = tmp_path / "instance" / "secret_key"
    demo = {**env, "JIEFEN_DEMO": "1"}
    assert "jiefen on http" in _serve_until_listening(demo, _free_port())
    key = key_file.read_text()
    assert len(key) >= 32 and key != "dev-only-change-me"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "jiefen on http" in _serve_until_listening(demo, _free_port())
    assert key_file.read_text() == key  # reused on the next start


def test_a_server_starts_with_a_key_of_its_own(env):
    output = _serve_until_listening({**env, "JIEFEN_SECRET_KEY": "a" * 8 + "-long-enough-key-1"}, _free_port())
    assert "jiefen on http" in output


def test_users_and_tokens_from_the_command_line(run):
    run("init-db")
    weak = run("user", "add", "wang", "--password", "1234567890", "--role", "admin", ok=False)
    assert weak.returncode == 2 and "too common" in weak.stderr and "Traceback" not in weak.stderr
    run("user", "add", "zhang", "--password", STRONG, "--role", "auditor")
    run("token", "zhang")
    run("token", "zhang")
    listed = [line.split("\t") for line in run("token", "--list", "zhang").stdout.splitlines()]
    assert [row[1] for row in listed] == ["active", "active"]
    assert "revoked" in run("token", "--revoke", listed[0][0]).stdout
    assert "disabled" in run("user", "disable", "zhang").stdout
    statuses = [line.split("\t")[1] for line in run("token", "--list", "zhang").stdout.splitlines()]
    assert statuses == ["revoked", "revoked"]  # disabling revoked the other one
    assert run("token", "zhang", ok=False).returncode == 2  # a disabled user gets no token
    assert "enabled" in run("user", "enable", "zhang").stdout
    weak = run("user", "passwd", "zhang", "--password", "zhang12345678", ok=False)
    assert weak.returncode == 2 and "contains the username" in weak.stderr and "Traceback" not in weak.stderr
    assert "changed" in run("user", "passwd", "zhang", "--password", "Another-Operator-Pass-9").stdout
    assert run("token", "--revoke", "999", ok=False).returncode == 2
    assert run("token", ok=False).returncode == 2  # neither a name nor --revoke
