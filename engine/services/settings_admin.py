"""Organisation settings in the administration console (issue 20 §4, §5): the supervision ladder's policy
(/admin/ladder), the lane -> role map, the group-case settings and the ranking weights, kept in the settings
table with every value they had (setting_versions: who, when, old -> new) and an admin-log entry per change.

config/org.toml is the seed: `jiefen init-db` writes its values here (seed_settings); a key with no row serves
the file's value, so an install upgraded from the files behaves as before until an administrator saves.

Every process serves a saved value within seconds: `refresh` compares the highest settings.version with the one
the process serves (one small SELECT, at most every few seconds: the web's before-request check, the scheduler's
tick) and reloads the few rows when it changed. A command reads the settings its process serves (a Python
attribute): nothing on the hot path reads this table.

Saving a ladder policy applies to the tasks opened from then on; asked to, also to the open tasks: each case whose
next ladder step moves gets one recorded command (ladder_apply.apply_to_open_tasks).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import admin_log, ladder_apply, ladder_policy, runtime, settings_store
from engine.actors import SYSTEM, Actor
from engine.errors import Forbidden, InvalidData
from engine.messages import msg
from engine.models import RoleModel, SettingModel, SettingVersionModel

log = logging.getLogger(__name__)

KEYS = ("ladder", "lane_roles", "group_case", "ranking")
RANKING_RATES = runtime.RANKING_RATES


def _require_admin(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_system):
        raise Forbidden(msg("admin.change_forbidden"))


def _require_reader(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_auditor or actor.is_system):
        raise Forbidden(msg("admin.read_forbidden"))


# ------------------------------------------------------------------------------------------ serving


def file_value(settings, key: str) -> dict:
    """A setting's value as the settings in force describe it (config/org.toml, or what is served)."""
    if key == "ladder":
        return ladder_policy.from_settings(settings)
    if key == "lane_roles":
        return dict(settings.lane_roles)
    if key == "group_case":
        return {"people_involved_at_least": settings.group_people_at_least,
                "director_role": settings.group_director_role,
                "consultation_roles": list(settings.group_consultation_roles)}
    if key == "ranking":
        return {"weights": dict(settings.ranking_weights)}
    raise KeyError(key)


@dataclass
class SettingView:
    key: str
    value: dict
    version: int | None  # None: the file's value, never saved in the console
    saved_by: str | None
    saved_at: object


refresh = settings_store.refresh  # the web's and the scheduler's check (webui/settings_watch.py)


def get_setting(session: Session, actor: Actor, key: str) -> SettingView:
    """A setting's value in force and who saved it when. Administrators and auditors. Raises Forbidden,
    InvalidData (an unknown key)."""
    _require_reader(actor)
    _known(key)
    rt = runtime.of(session)
    settings_store.refresh(session, rt)
    row = session.get(SettingModel, key)
    if row is None:
        return SettingView(key, file_value(rt.settings, key), None, None, None)
    return SettingView(key, row.value, row.version, row.saved_by, row.saved_at)


def history(session: Session, actor: Actor, key: str) -> list[SettingVersionModel]:
    """Every value the setting had, newest first (who, when, old -> new). Administrators and auditors."""
    _require_reader(actor)
    _known(key)
    return list(session.scalars(select(SettingVersionModel).where(SettingVersionModel.key == key)
                                .order_by(SettingVersionModel.version.desc())))


def _known(key: str) -> None:
    if key not in KEYS:
        m = msg("settings.unknown_key", key=key, keys=", ".join(KEYS))
        raise InvalidData(m, {"key": [m]})


# ------------------------------------------------------------------------------------------ checking


def _roles(session: Session, key: str | None = None) -> set[str]:
    """The roles a setting may name: those in the roles table (built in, named by a deployed process, or given to
    somebody), and those the value in force names already (config/org.toml may name a role no process uses yet:
    keeping it is no new mistake)."""
    known = set(session.scalars(select(RoleModel.name)))
    if key is not None:
        value = file_value(runtime.of(session).settings, key) if key != "ladder" else \
            runtime.of(session).current_ladder_policy().as_json()
        known |= _named_roles(key, value)
    return known


def _named_roles(key: str, value: dict) -> set[str]:
    if key == "ladder":
        return {role for pair in (value.get("roles") or {}).values() for role in pair.values()}
    if key == "lane_roles":
        return set(value.values())
    if key == "group_case":
        return {value["director_role"], *value["consultation_roles"]}
    return set()


_STEP_TITLES = {"prompt": "提示", "reminder": "催办", "notice": "督办", "listing": "挂牌督办"}
_TIER_TITLES = {"simple": "简单", "ordinary": "一般", "complex": "复杂", "major": "重大"}
_KIND_TITLES = {"city": "市级中心", "county": "县级中心", "township": "乡镇（街道）", "village": "村（社区）",
                "department": "入驻部门"}
# ladder_policy's problems by id, as messages (ids are literals: tests/unit/test_messages.py reads them)
_POLICY_MESSAGES = {
    "ladder.amount_number": lambda a: msg("ladder.amount_number", **a),
    "ladder.not_a_policy": lambda a: msg("ladder.not_a_policy"),
    "ladder.tiers_missing": lambda a: msg("ladder.tiers_missing"),
    "ladder.unknown_tier": lambda a: msg("ladder.unknown_tier", **a),
    "ladder.tier_missing": lambda a: msg("ladder.tier_missing", tier=_TIER_TITLES.get(a["tier"], a["tier"])),
    "ladder.no_steps": lambda a: msg("ladder.no_steps"),
    "ladder.not_a_step": lambda a: msg("ladder.not_a_step"),
    "ladder.unknown_step": lambda a: msg("ladder.unknown_step", **a),
    "ladder.unknown_direction": lambda a: msg("ladder.unknown_direction"),
    "ladder.unknown_unit": lambda a: msg("ladder.unknown_unit"),
    "ladder.two_thirds_before_only": lambda a: msg("ladder.two_thirds_before_only"),
    "ladder.step_order": lambda a: msg("ladder.step_order", step=_STEP_TITLES[a["step"]],
                                       before=_STEP_TITLES[a["before"]]),
    "ladder.not_increasing": lambda a: msg("ladder.not_increasing", step=_STEP_TITLES[a["step"]],
                                           before=_STEP_TITLES[a["before"]]),
    "ladder.roles_missing": lambda a: msg("ladder.roles_missing"),
    "ladder.roles_missing_kind": lambda a: msg("ladder.roles_missing_kind", kind=_KIND_TITLES.get(a["kind"], a["kind"])),
    "ladder.unknown_kind": lambda a: msg("ladder.unknown_kind", **a),
    "field.required": lambda a: msg("field.required"),
    "field.unknown_role": lambda a: msg("field.unknown_role", **a),
}


def _policy_message(mid: str, args: dict):
    return _POLICY_MESSAGES[mid](args)


def _check_ladder(session: Session, value) -> dict:
    try:
        policy = ladder_policy.parse(value, _roles(session, "ladder"))
    except ladder_policy.PolicyError as exc:
        details = {where: [_policy_message(mid, args) for mid, args in found] for where, found in exc.errors.items()}
        raise InvalidData(msg("ladder.invalid", count=len(details)), details) from None
    return policy.as_json()


def _check_lane_roles(session: Session, value) -> dict:
    if not isinstance(value, dict):
        m = msg("settings.lane_roles_shape")
        raise InvalidData(m, {"lane_roles": [m]})
    roles, out, errors = _roles(session, "lane_roles"), {}, {}
    for lane, role in value.items():
        lane_text = str(lane).strip()
        role_text = role.strip() if isinstance(role, str) else ""
        if not lane_text or len(lane_text) > 200:
            errors[f"lane_roles.{lane}"] = [msg("field.between", min=1, max=200)]
        elif not role_text:
            errors[f"lane_roles.{lane_text}"] = [msg("field.required")]
        elif role_text not in roles:
            errors[f"lane_roles.{lane_text}"] = [msg("field.unknown_role", role=role_text)]
        elif lane_text in out:
            errors[f"lane_roles.{lane_text}"] = [msg("settings.lane_twice", lane=lane_text)]
        else:
            out[lane_text] = role_text
    if errors:
        raise InvalidData(msg("form.invalid"), errors)
    return dict(sorted(out.items()))


def _check_group_case(session: Session, value) -> dict:
    if not isinstance(value, dict):
        m = msg("settings.not_an_object")
        raise InvalidData(m, {"group_case": [m]})
    roles, errors = _roles(session, "group_case"), {}
    at_least = value.get("people_involved_at_least")
    if isinstance(at_least, str) and at_least.strip().isdigit():
        at_least = int(at_least.strip())
    if isinstance(at_least, bool) or not isinstance(at_least, int) or not 2 <= at_least <= 100000:
        errors["people_involved_at_least"] = [msg("field.between", min=2, max=100000)]
    director = value.get("director_role")
    director = director.strip() if isinstance(director, str) else ""
    if not director:
        errors["director_role"] = [msg("field.required")]
    elif director not in roles:
        errors["director_role"] = [msg("field.unknown_role", role=director)]
    consult = value.get("consultation_roles")
    if not isinstance(consult, list) or not consult:
        errors["consultation_roles"] = [msg("settings.consultation_roles_empty")]
        consult = []
    names = []
    for role in consult:
        role = role.strip() if isinstance(role, str) else ""
        if role not in roles:
            errors["consultation_roles"] = [msg("field.unknown_role", role=role)]
        elif role not in names:
            names.append(role)
    if errors:
        raise InvalidData(msg("form.invalid"), errors)
    return {"people_involved_at_least": at_least, "director_role": director, "consultation_roles": names}


def _check_ranking(session: Session, value) -> dict:
    weights = value.get("weights") if isinstance(value, dict) else None
    if not isinstance(weights, dict) or not weights:
        m = msg("settings.weights_shape")
        raise InvalidData(m, {"weights": [m]})
    out, errors = {}, {}
    for rate, weight in weights.items():
        if rate not in RANKING_RATES:
            errors[f"weights.{rate}"] = [msg("settings.unknown_rate", rate=rate, rates=", ".join(RANKING_RATES))]
            continue
        if isinstance(weight, str):
            try:
                weight = float(weight.strip())
            except ValueError:
                pass
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1000:
            errors[f"weights.{rate}"] = [msg("field.between", min=0, max=1000)]
            continue
        if weight:
            out[rate] = float(weight)
    if not errors and not out:
        errors["weights"] = [msg("settings.weights_zero")]
    if errors:
        raise InvalidData(msg("form.invalid"), errors)
    return {"weights": out}


_CHECKS = {"ladder": _check_ladder, "lane_roles": _check_lane_roles, "group_case": _check_group_case,
           "ranking": _check_ranking}


# ------------------------------------------------------------------------------------------ saving


@dataclass
class SaveResult:
    key: str
    changed: bool
    version: int | None
    cases: list = field(default_factory=list)  # ladder applied to open tasks: the cases whose next step moved

    @property
    def moved(self) -> int:
        return sum(len(c.moved) for c in self.cases)


def save_setting(session: Session, actor: Actor, key: str, value, apply_to_open: bool = False,
                 note: str | None = None) -> SaveResult:
    """Save a setting's new value (checked: every wrong field named), with its history row and an admin-log
    entry (old -> new); in force in this process at once and in every other within the check interval. The
    ladder's policy applies to tasks opened from now on, and with `apply_to_open` to the open tasks too (one
    recorded command per case whose next step moves, each committed). Nothing changed, nothing written.
    Administrators only. Raises Forbidden, InvalidData."""
    _require_admin(actor)
    _known(key)
    if apply_to_open and key != "ladder":
        m = msg("settings.apply_ladder_only")
        raise InvalidData(m, {"apply_to_open": [m]})
    admin_log.serialise(session)
    rt = runtime.of(session)
    settings_store.refresh(session, rt)
    new = _CHECKS[key](session, value)
    row = session.get(SettingModel, key)
    old = row.value if row is not None else file_value(rt.settings, key)
    if new == old and not apply_to_open:
        session.rollback()
        return SaveResult(key, False, row.version if row is not None else None)
    now = rt.clock.now()
    version = settings_store.write(session, actor, key, new, old, now, to_open=apply_to_open, note=(note or "").strip() or None)
    session.commit()
    settings_store.refresh(session, rt)
    log.info("setting %s saved by %s (version %d)", key, actor.username, version)
    result = SaveResult(key, True, version)
    if apply_to_open:
        result.cases = ladder_apply.apply_to_open_tasks(session, actor.username, now, version)
    return result


def seed_settings(session: Session) -> list[str]:
    """`jiefen init-db`: write the files' values (config/org.toml) of every setting the database has no row for,
    each with its history row and an admin-log entry. Returns the keys written. Commits."""
    rt = runtime.of(session)
    written = []
    for key in KEYS:
        if session.get(SettingModel, key) is not None:
            continue
        value = file_value(rt.seed_settings, key)  # checked as the files were read (EngineSettings.from_files)
        if key == "ladder":
            value = ladder_policy.parse(value).as_json()
        settings_store.write(session, SYSTEM, key, value, None, rt.clock.now(), action="setting_seeded")
        written.append(key)
    session.commit()
    settings_store.refresh(session, rt)
    return written
