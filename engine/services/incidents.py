"""Incidents: timers that kept failing (Camunda 7's job -> incident), listed, retried or resolved by an operator."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import case_store, chain, runtime
from engine.actors import Actor
from engine.errors import CaseError, Conflict, Forbidden, InvalidData, NotFound
from engine.messages import msg
from engine.models import IncidentModel, TimerModel
from engine.timer_firing import TIMER_ROW, fire_timer_row, wall_now

log = logging.getLogger(__name__)

TIMERS = TimerModel.__table__


def list_incidents(session: Session, actor: Actor, include_resolved: bool = False) -> list[IncidentModel]:
    """Incidents, oldest first (open ones only unless include_resolved). Raises Forbidden."""
    _check_operator(actor)
    stmt = select(IncidentModel).order_by(IncidentModel.id)
    if not include_resolved:
        stmt = stmt.where(IncidentModel.resolved_at.is_(None))
    return list(session.scalars(stmt))


def case_incidents(session: Session, case_id: int) -> list[IncidentModel]:
    """The open incidents of a case, for its page (the caller has checked that the actor may read the case)."""
    return list(session.scalars(select(IncidentModel).where(IncidentModel.case_id == case_id,
                                                            IncidentModel.resolved_at.is_(None))
                                .order_by(IncidentModel.id)))


def _check_operator(actor: Actor) -> None:
    if not (actor.is_system or actor.is_admin):
        raise Forbidden(msg("incident.forbidden"))


def _open_incident(session: Session, incident_id: int, actor: Actor):
    """The incident and its case, the case locked; the incident re-read under the lock. Raises NotFound,
    Forbidden, Conflict (already resolved)."""
    _check_operator(actor)
    case_id = session.scalar(select(IncidentModel.case_id).where(IncidentModel.id == incident_id))
    if case_id is None:
        raise NotFound(msg("incident.not_found", incident_id=incident_id))
    case = case_store.lock_case(session, case_id)
    incident = session.get(IncidentModel, incident_id, populate_existing=True)
    if incident.resolved_at is not None:
        raise Conflict(msg("incident.already_resolved", incident_id=incident_id, at=incident.resolved_at.isoformat(),
                           by=incident.resolved_by), {"incident": incident_id})
    return case, incident


def retry_incident(session: Session, incident_id: int, actor: Actor, note: str | None = None,
                   now: datetime | None = None) -> IncidentModel:
    """Fire the incident's timer again now; on success the incident is resolved ("retried"), with a case event
    naming who retried it. Commits.

    On failure nothing of the firing is kept: the incident stays open with the new message and one more
    attempt, and the error is raised. Raises NotFound, Forbidden, Conflict (resolved already, or the timer is
    no longer pending because the case moved on: resolve the incident instead), TaskFailed."""
    now = now or runtime.of(session).clock.now()
    case, incident = _open_incident(session, incident_id, actor)
    timer = session.execute(TIMER_ROW, {"timer_id": incident.timer_id}).one_or_none() if incident.timer_id else None
    if timer is None or timer.fired_at is not None:
        raise Conflict(msg("incident.timer_gone", incident_id=incident_id),
                       {"incident": incident_id})
    try:
        moment = fire_timer_row(session, case, timer, now, actor.username)
        session.execute(update(TIMERS).where(TIMERS.c.id == timer.id)
                        .values(incident=False, claimed_by=None, claimed_until=None, retry_at=None, last_error=None))
        _resolve(session, case, incident, actor, "retried", note, max(now, moment))
        session.commit()
    except StaleDataError as exc:
        session.rollback()
        raise Conflict(msg("case.changed_concurrently")) from exc
    except Exception as exc:
        session.rollback()
        _record_failed_retry(session, incident_id, exc)
        raise
    log.info("incident %s of case %s retried by %s: the timer fired", incident_id, case.id, actor.username)
    return incident


def _record_failed_retry(session: Session, incident_id: int, exc: Exception) -> None:
    """After a retry that failed (rolled back): the incident keeps the new message and counts the attempt."""
    message = (exc.message if isinstance(exc, CaseError) else f"{type(exc).__name__}: {exc}")[:4000]
    session.execute(update(IncidentModel).where(IncidentModel.id == incident_id)
                    .values(message=message, attempts=IncidentModel.attempts + 1))
    session.commit()
    log.warning("retry of incident %s failed: %s", incident_id, message)


def resolve_incident(session: Session, incident_id: int, actor: Actor, note: str,
                     now: datetime | None = None) -> IncidentModel:
    """Close an incident without firing its timer (the operator dealt with the case otherwise), with a case
    event naming who and why. The timer is dismissed: no drain takes it again. Commits.

    Raises NotFound, Forbidden, Conflict (resolved already), InvalidData (no note)."""
    if not (note or "").strip():
        raise InvalidData(msg("incident.note_required"), {"note": [msg("field.required")]})
    now = now or runtime.of(session).clock.now()
    case, incident = _open_incident(session, incident_id, actor)
    if incident.timer_id is not None:
        # fired_at marks the row done with, so neither the drain nor the case's next command brings it back.
        session.execute(update(TIMERS).where(TIMERS.c.id == incident.timer_id, TIMERS.c.fired_at.is_(None))
                        .values(fired_at=now, claimed_by=None, claimed_until=None, retry_at=None))
    _resolve(session, case, incident, actor, "resolved", note.strip(), max(now, case.event_at or now))
    session.commit()
    log.info("incident %s of case %s resolved by %s", incident_id, case.id, actor.username)
    return incident


def _resolve(session: Session, case, incident: IncidentModel, actor: Actor, resolution: str, note: str | None,
             moment: datetime) -> None:
    incident.resolved_at = wall_now()
    incident.resolved_by = actor.username
    incident.resolution = resolution
    incident.note = note
    session.flush()
    chain.append_event(session, case, "incident_resolved", actor.username, moment,
                          {"incident": incident.id, "resolution": resolution, "note": note, "timer": incident.name},
                          task_name=incident.name)
