"""The engine's one clock, and the hook that makes SpiffWorkflow's timer code read it.

SpiffWorkflow 3.2 hard-codes ``datetime.now(timezone.utc)`` in its timer module. We replace the module's
``datetime`` name with a subclass whose ``now()`` returns the moment of the command being run, so a
command sees one consistent time and a replay of its events sees exactly the same time.
"""
from __future__ import annotations

import contextlib
import contextvars
from datetime import datetime, timedelta, timezone

import SpiffWorkflow.bpmn.specs.event_definitions.timer as timer_module

CHINA_TZ = timezone(timedelta(hours=8), "CST")

_command_now: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("jiefen_now", default=None)


class Clock:
    """Real time, optionally shifted (simulation) or frozen (tests, `run-due --now`)."""

    def __init__(self, fixed: datetime | None = None, offset: timedelta = timedelta(0)):
        if fixed is not None and fixed.tzinfo is None:
            raise ValueError("a fixed clock needs an aware datetime")
        self.fixed = fixed
        self.offset = offset

    def now(self) -> datetime:
        base = self.fixed if self.fixed is not None else datetime.now(timezone.utc)
        return (base + self.offset).astimezone(timezone.utc)

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("the clock needs an aware datetime")
        self.fixed = moment.astimezone(timezone.utc)
        self.offset = timedelta(0)

    def advance(self, **kwargs) -> datetime:
        if self.fixed is None:
            self.offset += timedelta(**kwargs)
        else:
            self.fixed += timedelta(**kwargs)
        return self.now()


def current_now() -> datetime:
    """The moment of the running command, else the real time (UTC, aware)."""
    moment = _command_now.get()
    return moment if moment is not None else datetime.now(timezone.utc)


@contextlib.contextmanager
def running_at(moment: datetime):
    """Run the body as if the time were `moment` (for SpiffWorkflow and the calendar helpers)."""
    if moment.tzinfo is None:
        raise ValueError("running_at needs an aware datetime")
    token = _command_now.set(moment.astimezone(timezone.utc))
    try:
        yield moment
    finally:
        _command_now.reset(token)


class _EngineDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        moment = current_now()
        return moment.astimezone(tz) if tz else moment.astimezone(CHINA_TZ).replace(tzinfo=None)


def install_spiff_clock() -> None:
    """Point SpiffWorkflow's timer module at our clock; naive timer dates mean China time (+08:00).

    Called by ``Runtime()``, never at import; a second call changes nothing. The patched ``now()`` reads the
    moment of the running command (``running_at``, a context variable), not any runtime's clock, so two
    runtimes with different clocks in one process do not see each other's time."""
    if timer_module.datetime is _EngineDatetime:
        return
    timer_module.datetime = _EngineDatetime
    timer_module.LOCALTZ = CHINA_TZ
