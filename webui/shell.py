"""What every page's frame needs: who is logged in, which role / org unit they act as, what they may open."""
from __future__ import annotations

import dataclasses
import logging

from flask import g, session

from engine.clock import CHINA_TZ
from engine.services import processes, users
from engine.services.cases import start_roles
from engine.services.users import Actor
from webui import labels
from webui.extensions import current_runtime, db
from webui.i18n import is_chinese

log = logging.getLogger(__name__)


def grant_value(grant) -> str:
    return f"{grant.role}@{grant.org_code}"


def role_titles() -> dict[str, str | None]:
    """role key -> its name in the reader's language (an administrator's name, else the built-in one, else the
    stored title): read once per request, so a renamed role shows in every process at once."""
    if "role_titles" not in g:
        chinese = is_chinese()
        g.role_titles = {r.name: labels.role_title(r, chinese) for r in users.list_roles(db.session)}
    return g.role_titles


def org_names() -> dict[str, str]:
    if "org_names" not in g:
        g.org_names = {o.code: o.name for o in users.list_org_units(db.session)}
    return g.org_names


def display_names() -> dict[str, str]:
    if "display_names" not in g:
        g.display_names = users.display_names(db.session)
    return g.display_names


def person(username: str | None) -> str:
    """Template global: a person as pages name them (display name; 系统 for the system)."""
    try:
        names = display_names()
    except Exception:  # an error page must render even when the database is broken
        log.debug("no display names for the page", exc_info=True)
        names = {}
    return labels.actor_name(username, names)


def acting_actor(actor: Actor) -> Actor:
    """The actor narrowed to the role / org unit chosen in the switcher (all of them when none is chosen).

    Only lists and the intake default use it; commands run as the full actor, whose grants the engine checks."""
    chosen = session.get("grant")
    if not chosen:
        return actor
    grants = tuple(gr for gr in actor.grants if grant_value(gr) == chosen)
    if not grants:
        session.pop("grant", None)
        return actor
    return dataclasses.replace(actor, grants=grants)


def startable_processes(actor: Actor) -> list:
    """The processes the actor may open a case of (a start role in some grant, as cases.check_may_open and
    the engine decide; an administrator without one registers nothing)."""
    if "startable" not in g:
        g.startable = [p for p in processes.list_processes(db.session)
                       if actor.is_system or start_roles(p.meta, current_runtime()) & actor.roles]
    return g.startable


def shell_context() -> dict:
    """Template globals for the page frame; never raises (error pages render through here too)."""
    from webui.auth import current_actor

    try:
        actor = current_actor(optional=True)
    except Exception:  # an error page must render even when the session or database is broken
        log.debug("no actor for the page frame", exc_info=True)
        return {"me": None, "grant_choices": [], "active_grant": "", "can_intake": False, "can_ledger": False, "can_processes": False,
                "can_console": False, "can_audit": False, "calendar_notice": ""}
    if actor is None:
        return {"me": None, "grant_choices": [], "active_grant": "", "can_intake": False, "can_ledger": False, "can_processes": False,
                "can_console": False, "can_audit": False, "calendar_notice": ""}
    try:
        titles, orgs = role_titles(), org_names()
        choices = [(grant_value(gr), f"{labels.role_name(gr.role, titles)} · {orgs.get(gr.org_code, gr.org_code)}")
                   for gr in actor.grants]
        can_intake = bool(startable_processes(actor))
    except Exception:
        log.debug("page frame data unavailable", exc_info=True)
        choices, can_intake = [], False
    return {"me": actor, "grant_choices": choices, "active_grant": session.get("grant", ""),
            "can_intake": can_intake, "calendar_notice": calendar_notice(actor),
            # 台账 in the header for those who oversee (supervisors, directors) or audit; staff reach it by its URL
            "can_ledger": actor.is_auditor or bool(actor.roles & users.SUPERVISORY_ROLES),
            "can_processes": actor.is_admin or actor.is_auditor or actor.is_designer,
            "can_console": actor.is_admin or actor.is_auditor, "can_audit": actor.is_admin or actor.is_auditor}


def calendar_notice(actor: Actor) -> str:
    """For administrators and supervisors/directors: the years whose holiday notice is not entered yet
    ("2027"), where deadlines may still move; "" for everybody else or when every year ahead is known."""
    if not (actor.is_admin or actor.roles & users.SUPERVISORY_ROLES):
        return ""
    rt = current_runtime()
    today = rt.clock.now().astimezone(CHINA_TZ).date()
    return "、".join(str(y) for y in rt.calendar.provisional_years_from(today))
