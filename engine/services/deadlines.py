"""Recomputing deadlines after the calendar of a year changed (issue 17 §3).

A year without the State Council notice runs provisional: its statutory holidays are computed, its 调休 and
bridge days are not (engine/calendar.py). When the notice is entered (config/calendar.toml today, the
administration console later), a deadline computed under the provisional year may move. This command walks
the open cases with a deadline in that year or later and, per case, in one command each (one transaction):

* a waiting BPMN timer with a date expression (timeDate) is evaluated again under the calendar now in force,
  as of now when its value does not depend on the moment (`legal_days(30, reply_served_date)`: an explicit
  start), else as of the moment it was armed (the `created_at` of the user task it is attached to);
* an open user task's due date (its dueDate expression) is evaluated again as of the task's `created_at`;
* what moved is recorded as a `deadlines_recomputed` event per case (old and new moment, element, reason),
  and the ladder follows: its steps derive from the task's due date (timer_index rebuilds them in the same
  command).

A timer of an intermediate event whose moment depends on when it was reached, or an expression that no longer
evaluates, cannot be recomputed safely: it is reported, not guessed, so an operator can review it. A timer
whose moment an earlier script stored in a variable (`mediation_deadline = legal_days(30)`) keeps that
value: designers compute statutory windows in the timer expression from a start date (docs/designers.md).

Replay (history.verify_case) sets the recorded timer values, so a verified case stays verified.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from engine import case_store, casework, runtime
from engine.actors import Actor
from engine.deadlines import CaseRecomputed, Unchanged, affected_cases, recompute
from engine.errors import Forbidden
from engine.messages import msg

log = logging.getLogger(__name__)


def recompute_deadlines(session: Session, year: int, actor: Actor, now: datetime | None = None,
                        reason: str | None = None) -> list[CaseRecomputed]:
    """Recompute every open deadline that may depend on `year`'s calendar; one command (and commit) per case
    that changed. Returns the cases that changed or need a review. Raises Forbidden (operators only)."""
    if not (actor.is_system or actor.is_admin):
        raise Forbidden(msg("deadlines.forbidden"))
    now = now or runtime.of(session).clock.now()
    reason = reason or f"{year}年放假安排变更，重新计算期限"
    out = []
    for case_id in affected_cases(session, year):
        case = case_store.lock_case(session, case_id)
        found = CaseRecomputed(case.id, case.code)
        try:
            casework.execute(session, case, actor.username, now, recompute(found, year, reason),
                             "deadlines_recomputed")
            session.commit()
        except Unchanged:
            session.rollback()
        except Exception:
            session.rollback()
            raise
        if found.moved or found.unsure:
            out.append(found)
            log.info("case %s: %d deadline(s) recomputed for %d, %d to review", case.code, len(found.moved), year,
                     len(found.unsure))
    return out
