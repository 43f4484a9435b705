"""Section 2: the lifecycle over HTTP against `jiefen serve` (waitress), on 127.0.0.1 only, bounded.

Two workers = two `jiefen serve` processes (waitress, one thread each) on two ports, with nothing in front:
client thread i keeps one HTTP/1.1 keep-alive connection to server i. `--api-workers threads` runs one
process with waitress threads=2 instead (one interpreter, one GIL).
"""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time

from bench.common import Session

from bench.common import (stop_process, INTAKE_DATA, LIFECYCLE_PROCESS, MEDIATE_DATA, ROOT, WORK, Target, bench_files,
                          configure_runtime, fresh_database, log, rnd, setup_directory, summary)

HOST = "127.0.0.1"  # never anything else: the bench only talks to servers it started on this machine


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Client:
    """One keep-alive connection; every request bounded by a timeout."""

    def __init__(self, port: int, timeout: float = 30.0):
        self.port = port
        self.timeout = timeout
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def call(self, method: str, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
        headers = {"Accept": "application/json"}
        data = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
            raise
        return resp.status, (json.loads(raw) if raw else {})

    def close(self) -> None:
        self.conn.close()


def _start_server(url: str, port: int, threads: int, log_path):
    env = dict(os.environ)
    env.update({"DATABASE_URL": url, "JIEFEN_DATABASE_URL": url, "JIEFEN_SECRET_KEY": "bench-only-secret-key",
                "PYTHONUNBUFFERED": "1"})
    env.pop("JIEFEN_SCHEDULER_ENABLED", None)
    fh = open(log_path, "w")
    proc = subprocess.Popen([sys.executable, "-m", "jiefen_cli", "serve", "--host", HOST, "--port", str(port),
                             "--threads", str(threads)], cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
                            start_new_session=True)
    return proc, fh


def _wait_up(port: int, proc, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jiefen serve on port {port} exited with {proc.returncode}")
        try:
            c = Client(port, timeout=5)
            status, _ = c.call("GET", "/api/v1/openapi.json")
            c.close()
            if status == 200:
                return
        except (OSError, http.client.HTTPException, ValueError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"jiefen serve on port {port} did not answer within {timeout:.0f}s")


def lifecycle(client: Client, clerk: str, mediator: str, record) -> None:
    """Open, complete intake, complete mediate: three requests."""
    t0 = time.perf_counter()
    status, body = client.call("POST", "/api/v1/cases", clerk, {"process_id": LIFECYCLE_PROCESS, "data": {}})
    record("open_case", t0, status, 201)
    task_id = body["tasks"][0]["id"]
    t0 = time.perf_counter()
    status, body = client.call("POST", f"/api/v1/tasks/{task_id}/complete", clerk, {"data": INTAKE_DATA})
    record("complete_intake", t0, status, 200)
    task_id = body["tasks"][0]["id"]
    t0 = time.perf_counter()
    status, body = client.call("POST", f"/api/v1/tasks/{task_id}/complete", mediator, {"data": MEDIATE_DATA})
    record("complete_mediate", t0, status, 200)
    if body.get("status") != "closed":
        raise RuntimeError(f"lifecycle did not close: {body.get('status')}")


def run(target: Target, cfg, results: dict) -> None:
    from engine.services import users

    configure_runtime()
    engine, url = fresh_database(target, "api")
    with Session(engine, expire_on_commit=False) as s:
        setup_directory(s, bench_files(), users_={"clerk": ["intake_clerk"], "mediator1": ["mediator"]})
        tokens = {"clerk": users.issue_token(s, "clerk"), "mediator": users.issue_token(s, "mediator1")}
    engine.dispose()
    mode = cfg.api_workers
    if mode == "threads":
        layout = [(_free_port(), 2)]
    else:
        layout = [(_free_port(), 1), (_free_port(), 1)]
    servers = []
    samples: dict[str, list[float]] = {"open_case": [], "complete_intake": [], "complete_mediate": []}
    errors: list[str] = []
    lock = threading.Lock()
    done = [0]
    try:
        for i, (port, threads) in enumerate(layout):
            servers.append(_start_server(url, port, threads, WORK / f"serve-{i}.log"))
        for (port, _), (proc, _fh) in zip(layout, servers):
            _wait_up(port, proc)
        ports = [port for port, _ in layout] * (2 // len(layout))  # two client threads either way
        log(f"api: {len(layout)} waitress process(es) {layout}, {cfg.api_lifecycles} lifecycles from 2 client threads")

        def worker(port: int, count: int, warm: int, measure: bool):
            client = Client(port)

            def record(name, t0, status, expected):
                ms = (time.perf_counter() - t0) * 1000.0
                if status != expected:
                    raise RuntimeError(f"{name}: HTTP {status}")
                if measure:
                    with lock:
                        samples[name].append(ms)
            try:
                for _ in range(warm):
                    lifecycle(client, tokens["clerk"], tokens["mediator"], record)
                for _ in range(count):
                    lifecycle(client, tokens["clerk"], tokens["mediator"], record)
                    if measure:
                        with lock:
                            done[0] += 1
                    if time.perf_counter() > stop_at:
                        break
            except Exception as exc:  # recorded; the other thread finishes its share
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                client.close()

        stop_at = time.perf_counter() + cfg.deadline_s
        warm = [threading.Thread(target=worker, args=(p, 0, cfg.api_warmup, False)) for p in ports]
        for t in warm:
            t.start()
        for t in warm:
            t.join()
        stop_at = time.perf_counter() + cfg.deadline_s
        per_thread = cfg.api_lifecycles // len(ports)
        threads_ = [threading.Thread(target=worker, args=(p, per_thread, 0, True)) for p in ports]
        t0 = time.perf_counter()
        for t in threads_:
            t.start()
        for t in threads_:
            t.join(timeout=cfg.deadline_s + 60)
        wall = time.perf_counter() - t0
    finally:
        for proc, fh in servers:
            stop_process(proc, fh)
    every = [v for values in samples.values() for v in values]
    results["api"] = {
        "workers": "2 processes x 1 waitress thread" if mode != "threads" else "1 process x 2 waitress threads",
        "client_threads": 2, "lifecycles": done[0], "requests": len(every), "wall_s": round(wall, 2),
        "lifecycles_per_s": rnd(done[0] / wall) if wall else None,
        "requests_per_s": rnd(len(every) / wall) if wall else None,
        "request_ms": summary(every), "by_request": {k: summary(v) for k, v in samples.items()},
        "errors": errors[:5],
    }
