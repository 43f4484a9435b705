"""Timer definitions (timeDate, timeDuration, timeCycle): the deploy-time check of their bodies."""
from __future__ import annotations

import ast
import re
from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from engine.scripting.compiler import _compile
from engine.scripting.limits import DEFAULT_LIMITS, Limits
from engine.scripting.rules import JUEL_MESSAGE

TIMER_KINDS: frozenset[str] = frozenset({"timeDate", "timeDuration", "timeCycle"})

TIMER_HINT = 'timer value must be a quoted string such as "P30D" or an expression such as legal_days(30)'


_BARE_ISO = re.compile(r"""^(?:
      R\d*/\S*                                             # repeating interval   R3/PT1H
    | [+-]?P(?=[\dT])[\dYMWDTHS.,]*                        # duration             P30D, PT4H
    | \d{4}-?(?:\d{2}-?\d{2}|W\d{2}-?\d?)(?:[T\s]\S*)?     # date, date-time, week date
)$""", re.X)

_NUMBER = r"\d+(?:[.,]\d+)?"
_ISO_DURATION = re.compile(
    rf"^P(?=\d|T\d)(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?=\d)(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?$", re.I)


def _check_timer_literal(value: str, kind: str) -> list[str]:
    """Validate a quoted timer literal with SpiffWorkflow's own parsers, so deploy time agrees with run time."""
    text = value.strip()
    if kind == "timeDuration":
        message = f'"{value}" is not an ISO 8601 duration; write one such as "P30D" (30 days) or "PT4H" (4 hours)'
        if not _ISO_DURATION.match(text):
            return [message]
        try:
            TimerEventDefinition.parse_iso_duration(text)
        except Exception:  # SpiffWorkflow raises a bare Exception('Invalid duration')
            return [message]
        return []
    if kind == "timeDate":
        message = f'"{value}" is not an ISO 8601 date or date-time; write one such as "2026-01-01T09:00:00+08:00"'
        try:
            parsed = TimerEventDefinition.parse_time_or_duration(text)
        except Exception:  # ValueError from fromisoformat, AttributeError from a bad week date
            return [message]
        return [] if isinstance(parsed, datetime) else [message]
    message = (f'"{value}" is not an ISO 8601 repeating interval; write one such as "R3/PT1H" '
               '(3 times, an hour apart) or "R/2026-01-01T09:00:00+08:00/P1D"')
    if not re.match(r"^R\d*/", text, re.I):
        return [message]
    try:
        TimerEventDefinition.parse_iso_recurring_interval(text)
    except Exception:  # SpiffWorkflow raises ValueError, TypeError or bare Exception depending on the part
        return [message]
    return []


def check_timer_expression(source: str, kind: str, *, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """Problems with a timer definition's body; `kind` is timeDate, timeDuration or timeCycle.

    SpiffWorkflow evaluates the body as a Python expression, so ISO text must be quoted ("P30D"); a quoted literal
    is validated here, an expression such as legal_days(30) only against the sandbox rules.
    Raises ValueError for an unknown kind.
    """
    if kind not in TIMER_KINDS:
        raise ValueError(f"unknown timer kind {kind!r}; expected one of {sorted(TIMER_KINDS)}")
    text = source.strip()
    if not text:
        return [f"the timer value is empty; {TIMER_HINT}"]
    if _BARE_ISO.match(text):
        return [TIMER_HINT]
    compiled = _compile(text, "eval", limits)
    if compiled.problems:
        problems = list(compiled.problems)
        if compiled.syntax_error and JUEL_MESSAGE not in problems:
            problems.append(TIMER_HINT)
        return problems
    assert isinstance(compiled.tree, ast.Expression)
    body = compiled.tree.body
    if isinstance(body, ast.Constant):
        if isinstance(body.value, str):
            return _check_timer_literal(body.value, kind)
        return [TIMER_HINT]
    return []
