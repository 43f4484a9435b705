"""A drain process for the concurrency and crash tests: `python -m tests.support.drain_worker URL NOW MODE [LEASE]`.

MODE: normal | crash-in-fire (dies after the case command ran, before its commit — like a killed process).
LEASE: seconds of real time a claim lasts (default 30)."""
import os
import sys
from datetime import datetime, timedelta

from engine import casework, runtime
from engine.calendar import DEFAULT_CALENDAR_PATH
from engine.clock import Clock
from engine.db import make_engine, make_session_factory
from engine.services.timers import TimerPolicy, fire_due_timers


def main() -> None:
    url, now_text, mode = sys.argv[1:4]
    policy = TimerPolicy(lease=timedelta(seconds=float(sys.argv[4]) if len(sys.argv) > 4 else 30))
    now = datetime.fromisoformat(now_text)
    settings = runtime.EngineSettings.from_files(None, str(DEFAULT_CALENDAR_PATH))
    rt = runtime.Runtime(settings, Clock(fixed=now))
    if mode == "crash-in-fire":
        original = casework.save

        def save_then_die(*args, **kwargs):
            original(*args, **kwargs)
            os._exit(3)  # the process is killed between the work and its commit

        casework.save = save_then_die
    engine = make_engine(url)
    with runtime.bind(make_session_factory(engine), rt)() as session:
        result = fire_due_timers(session, now, batch=100, worker=f"test-{os.getpid()}", policy=policy)
    print(f"fired={result.fired} skipped={result.skipped} failed={result.failed}")


if __name__ == "__main__":
    main()
