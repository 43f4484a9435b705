"""The settings table's reads and writes below the services (services/settings_admin.py, services/org.py): serving
the saved settings in a process (refresh), writing a new value with its history row and admin-log entry."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import admin_log, ladder_policy, runtime
from engine.actors import Actor
from engine.models import OrgUnitModel, SettingModel, SettingVersionModel

DISABLED_UNITS = "org_units_disabled"  # not edited as a setting: services/org.py writes it (停用), refresh reads it


def refresh(session: Session, rt: runtime.Runtime) -> bool:
    """Serve the settings saved since this process last looked (any process may have saved them); True when
    they changed. One SELECT when nothing changed."""
    version = session.scalar(select(func.max(SettingModel.version))) or 0
    if version == rt.settings_version:
        return False
    values = {row.key: row.value for row in session.scalars(select(SettingModel))}
    versions = []
    for row in session.scalars(select(SettingVersionModel).where(SettingVersionModel.key == "ladder")
                               .order_by(SettingVersionModel.version)):
        versions.append((row.saved_at, row.applies_to_open, ladder_policy.parse(row.value)))
    disabled = frozenset(session.scalars(select(OrgUnitModel.id).where(OrgUnitModel.active.is_(False))))
    rt.use_settings(values, tuple(versions), version)
    rt.disabled_units = disabled
    return True


def next_version(session: Session) -> int:
    return (session.scalar(select(func.max(SettingModel.version))) or 0) + 1


def write(session: Session, actor: Actor, key: str, value: dict, old: dict | None, now, *, to_open: bool = False,
           note: str | None = None, action: str = "setting_saved") -> int:
    version = next_version(session)
    row = session.get(SettingModel, key)
    if row is None:
        row = SettingModel(key=key)
        session.add(row)
    row.value, row.version, row.saved_by, row.saved_at = value, version, actor.username, now
    session.add(SettingVersionModel(key=key, version=version, old=old, value=value, saved_by=actor.username,
                                    saved_at=now, applies_to_open=to_open, note=note))
    admin_log.append(session, actor.username, now, action, "setting", key,
                     None if old is None else {"value": old},
                     {"value": value, "version": version, **({"applies_to_open": True} if to_open else {})})
    return version


def mark_disabled_units(session: Session, actor: Actor, now) -> None:
    """After a unit was disabled or enabled (services/org.py flushes it): the list of disabled units as a setting
    row, so every process reloads it with the others (routing refuses a disabled unit). Flushes only."""
    codes = sorted(session.scalars(select(OrgUnitModel.code).where(OrgUnitModel.active.is_(False))))
    row = session.get(SettingModel, DISABLED_UNITS)
    old = row.value if row is not None else {"codes": []}
    version = next_version(session)
    if row is None:
        row = SettingModel(key=DISABLED_UNITS)
        session.add(row)
    row.value, row.version, row.saved_by, row.saved_at = {"codes": codes}, version, actor.username, now
    session.add(SettingVersionModel(key=DISABLED_UNITS, version=version, old=old, value={"codes": codes},
                                    saved_by=actor.username, saved_at=now, applies_to_open=False))
