"""The org directory's shared steps: the top-level center and the role catalogue (flushes only).

Used by the users service, deployment (roles a process names) and case opening (the system's start unit).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.errors import NotFound
from engine.messages import msg
from engine.models import OrgUnitModel, RoleModel

# The demo center's published password (engine/demo.py): it signs in only in demo mode (users.authenticate).
DEMO_PASSWORD = "jiefen-demo-2026"


def top_org(session: Session) -> OrgUnitModel:
    org = session.scalar(select(OrgUnitModel).where(OrgUnitModel.parent_id.is_(None)).order_by(OrgUnitModel.id))
    if org is None:
        raise NotFound(msg("directory.no_top"))
    return org


def ensure_role(session: Session, name: str, title: str | None = None, builtin: bool = False) -> RoleModel:
    role = session.scalar(select(RoleModel).where(RoleModel.name == name))
    if role is None:
        role = RoleModel(name=name, title=title, builtin=builtin)
        session.add(role)
        session.flush()
    elif title and not role.title:
        role.title = title
    return role


def ensure_roles(session: Session, names: dict[str, str | None]) -> None:
    """Create the roles that do not exist yet (a title fills an empty one). Flushes only."""
    for name, title in names.items():
        ensure_role(session, name, title)
