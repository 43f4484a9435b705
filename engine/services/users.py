"""Users, roles, org units, memberships, API tokens, and the Actor a command runs as."""
from __future__ import annotations

import functools
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, delete, func, or_, select, update
from sqlalchemy.orm import Session, object_session, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from engine import admin_log, case_data, case_store, chain, runtime, task_index
from engine import presence as presence_rules
from engine.actors import ADMIN, AUDITOR, BUILTIN_ROLES, SUPERVISORY_ROLES, SYSTEM, Actor, Grant  # noqa: F401 (public here)
from engine.directory import DEMO_PASSWORD, ensure_role, ensure_roles, top_org  # noqa: F401 (public here)
from engine.errors import AuthenticationFailed, Conflict, Forbidden, InvalidData, NotFound
from engine.messages import msg
from engine.models import (ApiTokenModel, LoginFailureModel, MembershipModel, OrgUnitModel, RoleModel, TaskCandidateModel,
                           TaskModel, UserModel)

log = logging.getLogger(__name__)


def hash_password(password: str, rt: runtime.Runtime) -> str:
    return generate_password_hash(password, method=rt.settings.password_method)


@functools.cache
def _dummy_hash(method: str) -> str:
    """A hash of a random password, made once per method: an unknown name is checked against it, so it costs
    one hash like a wrong password for a real user (hashing a fresh one each time cost two)."""
    return generate_password_hash(secrets.token_urlsafe(16), method=method)


MIN_PASSWORD_LENGTH = 10
# zxcvbn's score: 3 = "safely unguessable" (about 10^8 guesses or more); below that it matched a common
# password, a word list, a keyboard walk, a repeat or a sequence.
MIN_PASSWORD_SCORE = 3


@functools.lru_cache(maxsize=256)
def _password_strength(password: str) -> tuple[int, str]:
    """zxcvbn's score and warning for a password (cached: test fixtures create many users with one password)."""
    from zxcvbn import zxcvbn  # a maintained estimator with its own common-password and word lists

    result = zxcvbn(password[:100])  # its cost grows with the length; 100 characters decide the score
    return result["score"], result["feedback"].get("warning") or ""


def check_password(password: str, username: str) -> None:
    """The password policy, the same for every role. Raises InvalidData with the reason."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidData(msg("password.too_short", min_length=MIN_PASSWORD_LENGTH),
                          {"password": [msg("field.password_too_short", min_length=MIN_PASSWORD_LENGTH)]})
    name = username.lower()
    # Containment only for names of 3 characters or more: a 2-letter name such as "li" would otherwise refuse
    # every password holding those two letters, which adds nothing to its strength.
    if password.lower() == name or (len(name) >= 3 and name in password.lower()):
        raise InvalidData(msg("password.has_username"), {"password": [msg("field.password_has_username")]})
    score, warning = _password_strength(password)
    if score < MIN_PASSWORD_SCORE:
        reason = f" ({warning})" if warning else ""
        raise InvalidData(msg("password.too_common", reason=reason),
                          {"password": [msg("field.password_too_common")]})


def _org_by_code(session: Session, code: str) -> OrgUnitModel:
    org = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == code))
    if org is None:
        raise NotFound(msg("org.not_found", org_unit=code), {"org_unit": [msg("field.unknown_org", org_unit=code)]})
    return org


def _add_org(session: Session, code: str, name: str, kind: str, level: int, area_code: str,
             parent: OrgUnitModel | None, presence: str | None = None, rota_days: str | None = None) -> OrgUnitModel:
    org = OrgUnitModel(code=code, name=name, kind=kind, level=level, area_code=area_code,
                       parent_id=parent.id if parent else None, presence=presence, rota_days=rota_days, path="/")
    session.add(org)
    session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    return org


# An org unit's level by kind: 市级 0, 县级 1, 乡镇（街道）2, 村（社区）3; a department takes its center's.
LEVELS = {"city": 0, "county": 1, "township": 2, "village": 3}


def init_directory(session: Session, center_code: str, center_name: str, area_code: str,
                   kind: str = "county") -> OrgUnitModel:
    """Create the built-in roles and the top-level center (a county, or a city 市级 center) if missing
    (idempotent). Commits."""
    if not (len(area_code) == 6 and area_code.isdigit()):
        raise InvalidData(msg("org.area_code_invalid"), {"area_code": [msg("field.six_digits")]})
    for name, title in BUILTIN_ROLES.items():
        ensure_role(session, name, title, builtin=True)
    org = session.scalar(select(OrgUnitModel).where(OrgUnitModel.parent_id.is_(None)))
    if org is None:
        org = _add_org(session, center_code, center_name, kind, LEVELS.get(kind, 1), area_code, None)
    elif org.code != center_code and LEVELS.get(kind, 1) < LEVELS.get(org.kind, 1):
        org = _put_above(session, org, center_code, center_name, kind, area_code)
    session.commit()
    return org


def _put_above(session: Session, root: OrgUnitModel, code: str, name: str, kind: str,
               area_code: str) -> OrgUnitModel:
    """A higher center above the present top (a city 市级 center over a county that was initialised alone):
    the old top and everything below it move under the new one, their materialised paths prefixed. Flushes."""
    if session.scalar(select(OrgUnitModel.id).where(OrgUnitModel.code == code)) is not None:
        raise InvalidData(msg("org.code_taken", code=code), {"center_code": [msg("org.code_taken", code=code)]})
    top = _add_org(session, code, name, kind, LEVELS[kind], area_code, None)
    old_prefix = root.path
    for unit in session.scalars(select(OrgUnitModel).where(OrgUnitModel.path.startswith(old_prefix))):
        unit.path = f"{top.path}{unit.path[1:]}"
    root.parent_id = top.id
    session.flush()
    log.info("org unit %s %s put above the former top %s", code, name, root.code)
    return top


def add_org_unit(session: Session, code: str, name: str, kind: str, parent_code: str,
                 area_code: str | None = None, presence: str | None = None, phone: str | None = None,
                 rota_days: str | None = None) -> OrgUnitModel:
    """Add an org unit under a parent (idempotent by code; a phone given fills in one the unit lacks). Commits.
    The seed's way (init-db, the demo, tests); the console adds units through services/org.py.

    Raises InvalidData (unknown kind; a phone that is no phone number; presence), NotFound (parent)."""
    if kind not in {*LEVELS, "department"}:
        raise InvalidData(msg("org.unknown_kind", kind=kind), {"kind": ["city|county|township|village|department"]})
    phone = _unit_phone(phone)
    presence, rota_days = presence_rules.normalise(presence, rota_days)
    existing = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == code))
    if existing is not None:
        if phone and not existing.phone:
            existing.phone = phone
            session.commit()
        return existing
    parent = _org_by_code(session, parent_code)
    level = parent.level if kind == "department" else LEVELS[kind]
    org = _add_org(session, code, name, kind, level, area_code or parent.area_code, parent, presence, rota_days)
    org.phone = phone
    session.commit()
    return org


_UNIT_PHONE = re.compile(r"[0-9][0-9 ()（）+\-]{5,38}")


def _unit_phone(phone: str | None) -> str | None:
    phone = (phone or "").strip() or None
    if phone is not None and not _UNIT_PHONE.fullmatch(phone):
        raise InvalidData(msg("org.phone_invalid"), {"phone": [msg("field.phone_number")]})
    return phone


def set_org_unit_phone(session: Session, code: str, phone: str | None) -> OrgUnitModel:
    """Set (or, with None, clear) an org unit's contact phone, which the public look-up shows parties.
    Commits. Raises NotFound (unit), InvalidData (not a phone number)."""
    org = _org_by_code(session, code)
    org.phone = _unit_phone(phone)
    session.commit()
    return org


def create_user(session: Session, username: str, password: str, roles: list[str],
                org_codes: list[str] | None = None, display_name: str | None = None) -> UserModel:
    """Create a user holding each role in each org unit (default: the top-level center). Commits.

    Raises InvalidData (unknown role, weak input) or Conflict (username taken)."""
    if not username or not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise InvalidData(msg("user.invalid_username"), {"username": [msg("field.username_chars")]})
    case_data.check_name("display_name", display_name)
    check_password(password, username)
    if not roles:
        raise InvalidData(msg("user.role_required"), {"role": [msg("field.required")]})
    if session.scalar(select(UserModel).where(UserModel.username == username)) is not None:
        raise Conflict(msg("user.exists", username=username))
    role_rows = []
    for name in roles:
        role = session.scalar(select(RoleModel).where(RoleModel.name == name))
        if role is None:
            known = ", ".join(session.scalars(select(RoleModel.name).order_by(RoleModel.name)))
            raise InvalidData(msg("user.unknown_role", role=name, known=known), {"role": [msg("field.unknown_role", role=name)]})
        role_rows.append(role)
    orgs = [_org_by_code(session, code) for code in org_codes] if org_codes else [top_org(session)]
    user = UserModel(username=username, display_name=display_name or username, password_hash=hash_password(password, runtime.of(session)),
                     created_at=runtime.of(session).clock.now())
    session.add(user)
    session.flush()
    for role in role_rows:
        for org in orgs:
            session.add(MembershipModel(user_id=user.id, role_id=role.id, org_unit_id=org.id))
    session.flush()
    admin_log.append(session, SYSTEM.username, user.created_at, "user_created", "user", username, None,
                     {"display_name": user.display_name, "active": True,
                      "memberships": [{"role": r.name, "org_unit": o.code} for r in role_rows for o in orgs]})
    session.commit()
    log.info("user created: %s roles=%s", username, roles)
    return user


# Who is calling, in one statement: every request starts here (a web page from its session's username, an
# API call from its token), where the ORM took three to five (user, memberships, roles, units).
_U, _M, _R, _O, _T = (UserModel.__table__.c, MembershipModel.__table__.c, RoleModel.__table__.c,
                      OrgUnitModel.__table__.c, ApiTokenModel.__table__.c)
_ACTOR_COLUMNS = (_U.id, _U.username, _U.display_name, _U.active, _U.session_version, _U.must_change_password,
                  _R.name.label("role"),
                  _M.org_unit_id, _O.path.label("org_path"), _O.code.label("org_code"))
_WITH_GRANTS = (UserModel.__table__.outerjoin(MembershipModel.__table__, _M.user_id == _U.id)
                .outerjoin(RoleModel.__table__, _R.id == _M.role_id)
                .outerjoin(OrgUnitModel.__table__, _O.id == _M.org_unit_id))
_ACTOR_BY_USERNAME = select(*_ACTOR_COLUMNS).select_from(_WITH_GRANTS).where(_U.username == bindparam("username"))
_ACTOR_BY_TOKEN = (select(*_ACTOR_COLUMNS, _T.revoked, _T.expires_at)
                   .select_from(ApiTokenModel.__table__.join(_WITH_GRANTS, _U.id == _T.user_id))
                   .where(_T.token_hash == bindparam("digest")))


def _actor_from_rows(rows) -> Actor | None:
    """The Actor from a user's rows of _ACTOR_COLUMNS (one per membership); None without rows or if inactive."""
    if not rows or not rows[0].active:
        return None
    grants = tuple(sorted((Grant(r.role, r.org_unit_id, r.org_path, r.org_code) for r in rows if r.role is not None),
                          key=lambda g: (g.role, g.org_path)))
    first = rows[0]
    return Actor(username=first.username, user_id=first.id, display_name=first.display_name, grants=grants,
                 session_version=first.session_version, must_change_password=bool(first.must_change_password))


def load_actor(session: Session, username: str) -> Actor:
    """The Actor for a username. Raises NotFound."""
    actor = _actor_from_rows(session.execute(_ACTOR_BY_USERNAME, {"username": username}).all())
    if actor is None:
        raise NotFound(msg("user.not_found", username=username))
    return actor


WRONG_CREDENTIALS = msg("login.wrong_credentials")
# Back-off: after max_failures failed logins of one name from one address that pair waits lock_minutes, and
# twice as long after every further failure, up to a day; a day without failures forgets the pair.
_MAX_LOCK = timedelta(days=1)
_FORGET_AFTER = timedelta(days=1)


def _locked_message(until: datetime, now: datetime) -> AuthenticationFailed:
    minutes = max(1, int((until - now).total_seconds() + 59) // 60)
    return AuthenticationFailed(msg("login.locked", minutes=minutes), {"retry_after": minutes * 60})


def _count_failure(session: Session, key: tuple[str, str], now: datetime, max_failures: int, lock_minutes: int) -> None:
    """Flushes: one more failure for (username, client), counted in one statement (an upsert, so concurrent
    attempts neither lose a count nor collide on the new row), and the pair's lock once there are enough."""
    table = LoginFailureModel.__table__
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stale = table.c.last_failed_at < now - _FORGET_AFTER
    stmt = insert(table).values(username=key[0], client=key[1], failures=1, last_failed_at=now)
    stmt = stmt.on_conflict_do_update(index_elements=[table.c.username, table.c.client], set_={
        "failures": case((stale, 1), else_=table.c.failures + 1), "last_failed_at": now,
    }).returning(table.c.failures)
    failures = session.execute(stmt).scalar_one()
    if failures >= max_failures:
        until = now + min(timedelta(minutes=lock_minutes) * 2 ** (failures - max_failures), _MAX_LOCK)
        session.execute(update(table).where(table.c.username == key[0], table.c.client == key[1])
                        .values(locked_until=until))
        log.warning("login locked for %s from %s after %d failures", key[0], key[1], failures)
    session.execute(delete(table).where(stale))


def authenticate(session: Session, username: str, password: str, client: str = "", max_failures: int = 5,
                 lock_minutes: int = 15) -> Actor:
    """Check a password. Failures count per (username, client address), whether or not the name exists, and
    lock that pair for a while with back-off; an unknown name costs the same one hash as a wrong password.
    Commits.

    Raises AuthenticationFailed: the same message for an unknown name, a disabled user and a wrong password,
    and the same lock-out message whether or not the name exists."""
    now = runtime.of(session).clock.now()
    key = (username[:64], (client or "-")[:64])
    pair = (LoginFailureModel.username == key[0]) & (LoginFailureModel.client == key[1])
    locked_until = session.scalar(select(LoginFailureModel.locked_until).where(pair))
    if locked_until is not None and locked_until > now:
        raise _locked_message(locked_until, now)
    user = session.scalar(select(UserModel).where(UserModel.username == username))
    real = user is not None and user.active
    matches = check_password_hash(user.password_hash if real else _dummy_hash(runtime.of(session).settings.password_method),
                                  password)
    if not (real and matches):
        _count_failure(session, key, now, max_failures, lock_minutes)
        session.commit()
        raise AuthenticationFailed(WRONG_CREDENTIALS)
    if password == DEMO_PASSWORD and not runtime.of(session).settings.demo_mode:
        raise AuthenticationFailed(msg("login.demo_password"))
    session.execute(delete(LoginFailureModel).where(pair))  # a success forgets the pair's failures
    user.last_login_at = now
    session.commit()
    return load_actor(session, username)


def _user(session: Session, username: str) -> UserModel:
    user = session.scalar(select(UserModel).where(UserModel.username == username))
    if user is None:
        raise NotFound(msg("user.not_found", username=username))
    return user


def _end_sessions_and_tokens(session: Session, user: UserModel) -> int:
    """Flushes: every browser session of the user ends, and every token is revoked; returns the tokens revoked."""
    user.session_version += 1
    result = session.execute(update(ApiTokenModel)
                             .where(ApiTokenModel.user_id == user.id, ApiTokenModel.revoked.is_(False))
                             .values(revoked=True))
    session.flush()
    return result.rowcount


def end_sessions(session: Session, username: str) -> None:
    """Log out: every browser session of the user ends (tokens stay valid: they are ended one by one). Commits;
    a name that no longer exists has no session to end."""
    user = session.scalar(select(UserModel).where(UserModel.username == username))
    if user is None:
        return
    user.session_version += 1
    session.commit()
    log.info("sessions ended: %s", username)


def set_active(session: Session, username: str, active: bool) -> UserModel:
    """Disable a user (every session ends, every token is revoked, their claimed tasks return to the pool) or
    enable one again (`jiefen user disable|enable`). Commits, with a row in the admin log by `system`.

    Raises NotFound."""
    user = _user(session, username)
    if user.active == active:
        return user
    now = runtime.of(session).clock.now()
    user.active = active
    released = []
    if not active:
        _end_sessions_and_tokens(session, user)
        released = _release_claims(session, user, SYSTEM, now, keep=None, reason="user_disabled")
    admin_log.append(session, SYSTEM.username, now, "user_enabled" if active else "user_disabled", "user", username,
                     {"active": not active}, {"active": active, **({"released_tasks": released} if released else {})})
    session.commit()
    log.info("user %s: %s", "enabled" if active else "disabled", username)
    return user


def set_password(session: Session, username: str, password: str, by: str | None = None) -> UserModel:
    """A new password, set by the user (`by` their login: the forced change after a reset) or the operator
    (`jiefen user passwd`: `system`): every session ends, every token is revoked, the must-change flag is
    cleared. Commits, with a password_changed row in the admin log (never the password).

    Raises NotFound, InvalidData (the password policy's reason)."""
    user = _user(session, username)
    check_password(password, username)
    if check_password_hash(user.password_hash, password):
        raise InvalidData(msg("password.unchanged"), {"password": [msg("field.password_unchanged")]})
    user.password_hash = hash_password(password, runtime.of(session))
    user.must_change_password = False
    _end_sessions_and_tokens(session, user)
    admin_log.append(session, by or SYSTEM.username, runtime.of(session).clock.now(), "password_changed", "user",
                     username)
    session.commit()
    log.info("password changed: %s", username)
    return user


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once: only its sha256 is stored
    id: int
    expires_at: datetime


def _mint(session: Session, username: str, days: int) -> IssuedToken:
    """Flushes: a bearer token valid for `days`; only its sha256 is stored. Raises NotFound."""
    user = session.scalar(select(UserModel).where(UserModel.username == username))
    if user is None or not user.active:
        raise NotFound(msg("user.not_found", username=username))
    token = secrets.token_urlsafe(32)
    now = runtime.of(session).clock.now()
    row = ApiTokenModel(user_id=user.id, token_hash=_digest(token), created_at=now,
                        expires_at=now + timedelta(days=days))
    session.add(row)
    session.flush()
    log.info("token %d issued: %s", row.id, username)
    return IssuedToken(token, row.id, row.expires_at)


def new_token(session: Session, username: str, days: int = 30) -> IssuedToken:
    """Create a bearer token valid for `days` (the token, its id and expiry). Commits. Raises NotFound."""
    issued = _mint(session, username, days)
    session.commit()
    return issued


def issue_token(session: Session, username: str, days: int = 30) -> str:
    """Create a bearer token valid for `days`; returns the token alone. Commits. Raises NotFound."""
    issued = _mint(session, username, days)
    session.commit()
    return issued.token


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _token_problem(revoked: bool, expires_at: datetime, now: datetime) -> AuthenticationFailed | None:
    if revoked:
        return AuthenticationFailed(msg("token.revoked"))
    if expires_at <= now:
        return AuthenticationFailed(msg("token.expired", expires_at=expires_at.isoformat()))
    return None


def actor_for_token(session: Session, token: str) -> Actor:
    """The Actor behind a bearer token. Raises AuthenticationFailed (unknown, revoked or expired: which)."""
    rows = session.execute(_ACTOR_BY_TOKEN, {"digest": _digest(token)}).all()
    if not rows:
        raise AuthenticationFailed(msg("token.unknown"))
    problem = _token_problem(rows[0].revoked, rows[0].expires_at, runtime.of(session).clock.now())
    if problem is not None:
        raise problem
    actor = _actor_from_rows(rows)
    if actor is None:
        raise AuthenticationFailed(msg("token.user_disabled"))
    return actor


def list_tokens(session: Session, username: str) -> list[ApiTokenModel]:
    """A user's tokens, newest first (the token itself is never stored, only its hash). Raises NotFound."""
    user = _user(session, username)
    return list(session.scalars(select(ApiTokenModel).where(ApiTokenModel.user_id == user.id)
                                .order_by(ApiTokenModel.id.desc())))


def token_status(token: ApiTokenModel) -> str:
    """active | revoked | expired."""
    problem = _token_problem(token.revoked, token.expires_at, runtime.of(object_session(token)).clock.now())
    return "active" if problem is None else ("revoked" if token.revoked else "expired")


def revoke_token(session: Session, token_id: int) -> ApiTokenModel:
    """Revoke a token by its id (`jiefen token --list`). Commits. Raises NotFound."""
    row = session.get(ApiTokenModel, token_id)
    if row is None:
        raise NotFound(msg("token.not_found", token_id=token_id))
    row.revoked = True
    session.commit()
    log.info("token %d revoked", token_id)
    return row


def revoke_own_token(session: Session, token: str) -> None:
    """The caller revokes the bearer token it called with. Commits.

    Raises AuthenticationFailed (unknown, revoked or expired)."""
    row = session.scalar(select(ApiTokenModel).where(ApiTokenModel.token_hash == _digest(token)))
    if row is None:
        raise AuthenticationFailed(msg("token.unknown"))
    problem = _token_problem(row.revoked, row.expires_at, runtime.of(session).clock.now())
    if problem is not None:
        raise problem
    row.revoked = True
    session.commit()
    log.info("token %d revoked by its holder", row.id)


def list_roles(session: Session) -> list[RoleModel]:
    return list(session.scalars(select(RoleModel).order_by(RoleModel.builtin.desc(), RoleModel.name)))


def display_names(session: Session) -> dict[str, str]:
    """username -> display name, for the users that have one (pages name people, not logins). Read-only."""
    return {name: shown for name, shown in session.execute(
        select(UserModel.username, UserModel.display_name).where(UserModel.display_name.is_not(None))) if shown}


def list_org_units(session: Session) -> list[OrgUnitModel]:
    return list(session.scalars(select(OrgUnitModel).order_by(OrgUnitModel.path)))


# ---- the administration console (issue 20 §1): every act below is a row of the admin log (engine/admin_log.py)

@dataclass(frozen=True)
class UserFilter:
    q: str | None = None  # part of the login or the display name
    role: str | None = None  # holds this role (at any unit, or at org_unit when given)
    org_unit: str | None = None  # holds a role at this unit (its code)
    active: bool | None = None


@dataclass(frozen=True)
class UserPage:
    items: list[UserModel]  # memberships loaded
    total: int
    page: int
    per_page: int


MAX_USERS_PER_PAGE = 200
_ONE_TIME_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789"  # no 0/O, 1/l/I: read out on the phone


def check_administrator(actor: Actor) -> None:
    """Raises Forbidden unless the actor may change users and settings (a page's form is for them only)."""
    if not (actor.is_admin or actor.is_system):
        raise Forbidden(msg("admin.change_forbidden"))


_may_administer = check_administrator


def _may_read_users(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_auditor or actor.is_system):
        raise Forbidden(msg("admin.read_forbidden"))


def _grants_of(user: UserModel) -> list[dict]:
    return sorted(({"role": m.role.name, "org_unit": m.org_unit.code} for m in user.memberships),
                  key=lambda g: (g["org_unit"], g["role"]))


def list_users(session: Session, actor: Actor, flt: UserFilter = UserFilter(), page: int = 1,
               per_page: int = 50) -> UserPage:
    """Users matching the filter, by login, with their memberships and last login. Read-only.

    Raises Forbidden (neither administrator nor auditor), InvalidData (page, page size)."""
    _may_read_users(actor)
    if page < 1:
        raise InvalidData(msg("form.invalid"), {"page": [msg("field.at_least", min=1)]})
    if not 1 <= per_page <= MAX_USERS_PER_PAGE:
        raise InvalidData(msg("form.invalid"), {"per_page": [msg("field.between", min=1, max=MAX_USERS_PER_PAGE)]})
    query = select(UserModel)
    if flt.q:
        pattern = f"%{flt.q.strip().lower()}%"
        query = query.where(or_(func.lower(UserModel.username).like(pattern),
                                func.lower(func.coalesce(UserModel.display_name, "")).like(pattern)))
    if flt.role or flt.org_unit:
        held = select(MembershipModel.user_id)
        if flt.role:
            held = held.join(RoleModel, RoleModel.id == MembershipModel.role_id).where(RoleModel.name == flt.role)
        if flt.org_unit:
            held = held.join(OrgUnitModel, OrgUnitModel.id == MembershipModel.org_unit_id).where(
                OrgUnitModel.code == flt.org_unit)
        query = query.where(UserModel.id.in_(held))
    if flt.active is not None:
        query = query.where(UserModel.active.is_(flt.active))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    items = list(session.scalars(query.options(selectinload(UserModel.memberships)).order_by(UserModel.username)
                                 .offset((page - 1) * per_page).limit(per_page)))
    return UserPage(items, total, page, per_page)


def get_user(session: Session, actor: Actor, username: str) -> UserModel:
    """One user with their memberships. Read-only. Raises Forbidden, NotFound."""
    _may_read_users(actor)
    return _user(session, username)


def _resolve_grants(session: Session, memberships: list[tuple[str, str]]) -> list[tuple[RoleModel, OrgUnitModel]]:
    """(role name, org unit code) pairs as rows, duplicates dropped. Raises InvalidData naming the entry."""
    roles = {r.name: r for r in session.scalars(select(RoleModel))}
    resolved, seen = [], set()
    for index, (role_name, org_code) in enumerate(memberships):
        role = roles.get(role_name)
        if role is None:
            raise InvalidData(msg("user.unknown_role", role=role_name, known=", ".join(sorted(roles))),
                              {f"memberships.{index}.role": [msg("field.unknown_role", role=role_name)]})
        org = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == org_code))
        if org is None:
            raise InvalidData(msg("org.not_found", org_unit=org_code),
                              {f"memberships.{index}.org_unit": [msg("field.unknown_org", org_unit=org_code)]})
        if (role.id, org.id) not in seen:
            seen.add((role.id, org.id))
            resolved.append((role, org))
    return resolved


def _check_phone(phone: str | None) -> str | None:
    return _unit_phone(phone)


def add_user(session: Session, actor: Actor, username: str, display_name: str, password: str,
             memberships: list[tuple[str, str]], phone: str | None = None) -> UserModel:
    """An administrator creates a user holding each (role, org unit code). Commits, with a user_created row in
    the admin log.

    Raises Forbidden (not an administrator), InvalidData (login, name, phone, password policy, no membership, an
    unknown role or unit: the field named), Conflict (the login is taken)."""
    _may_administer(actor)
    user = _new_user(session, actor, username, display_name, password, memberships, phone)
    session.commit()
    log.info("user created by %s: %s", actor.username, username)
    return user


def _check_new_user(session: Session, username: str, display_name: str, password: str | None,
                    memberships: list[tuple[str, str]], phone: str | None
                    ) -> tuple[str, str | None, list[tuple[RoleModel, OrgUnitModel]]]:
    """The checks of a new user, nothing written: (display name, phone, grants). Raises InvalidData, Conflict."""
    if not username or len(username) > 64 or not username.isascii() \
            or not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise InvalidData(msg("user.invalid_username"), {"login": [msg("field.username_chars")]})
    display_name = (display_name or "").strip()
    if not display_name:
        raise InvalidData(msg("form.invalid"), {"display_name": [msg("field.required")]})
    case_data.check_name("display_name", display_name)
    phone = _check_phone(phone)
    if password is not None:
        check_password(password, username)
    if not memberships:
        raise InvalidData(msg("user.role_required"), {"memberships": [msg("field.required")]})
    grants = _resolve_grants(session, memberships)
    if session.scalar(select(UserModel.id).where(UserModel.username == username)) is not None:
        raise Conflict(msg("user.exists", username=username), {"login": [msg("user.exists", username=username)]})
    return display_name, phone, grants


def _insert_user(session: Session, actor: Actor, username: str, display_name: str, password: str, phone: str | None,
                 grants: list[tuple[RoleModel, OrgUnitModel]], must_change: bool, action: str) -> UserModel:
    """Flushes: the user, their memberships and the admin log's row."""
    now = runtime.of(session).clock.now()
    user = UserModel(username=username, display_name=display_name, phone=phone, created_at=now,
                     password_hash=hash_password(password, runtime.of(session)), must_change_password=must_change)
    session.add(user)
    session.flush()
    for role, org in grants:
        session.add(MembershipModel(user_id=user.id, role_id=role.id, org_unit_id=org.id))
    session.flush()
    admin_log.append(session, actor.username, now, action, "user", username, None,
                     {"display_name": display_name, "phone": phone, "active": True,
                      "memberships": [{"role": r.name, "org_unit": o.code} for r, o in grants]})
    return user


def _new_user(session: Session, actor: Actor, username: str, display_name: str, password: str,
              memberships: list[tuple[str, str]], phone: str | None) -> UserModel:
    display_name, phone, grants = _check_new_user(session, username, display_name, password, memberships, phone)
    return _insert_user(session, actor, username, display_name, password, phone, grants, False, "user_created")


@dataclass(frozen=True)
class ImportRow:
    row: int  # the row number in the file (the header is row 1)
    login: str
    display_name: str
    phone: str | None
    password: str | None  # None: a one-time password is made
    memberships: list[tuple[str, str]]  # (role name or title, org unit code or name)


@dataclass(frozen=True)
class RowError:
    row: int
    column: str  # login | display_name | phone | password | memberships
    message: str  # an engine Message (shown in the reader's language)


@dataclass(frozen=True)
class ImportResult:
    errors: list[RowError]
    applied: bool
    created: list[tuple[str, str | None]]  # (login, one-time password made for it, or None), shown once


MAX_IMPORT_ROWS = 2000
_COLUMN_OF = {"login": "login", "username": "login", "display_name": "display_name", "phone": "phone",
              "password": "password"}


def _import_names(session: Session, memberships: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A role by name or by its title's Chinese part, a unit by code or by its name (when no other unit has it)."""
    roles = {}
    for role in session.scalars(select(RoleModel)):
        roles[role.name] = role.name
        if role.title:
            roles.setdefault(role.title.split(" / ")[0].strip(), role.name)
            roles.setdefault(role.title.strip(), role.name)
    units, named = {}, {}
    for code, name in session.execute(select(OrgUnitModel.code, OrgUnitModel.name)):
        units[code] = code
        named.setdefault(name, []).append(code)
    for name, codes in named.items():
        if len(codes) == 1:
            units.setdefault(name, codes[0])
    return [(roles.get(r, r), units.get(o, o)) for r, o in memberships]


def import_users(session: Session, actor: Actor, rows: list[ImportRow], apply: bool) -> ImportResult:
    """Bulk import (a center onboarding its staff): check every row as add_user would (and a login used twice
    in the file); with apply and no error, create them all in one transaction and commit, each with a
    user_imported row in the admin log; with any error (or a dry run) nothing is written. Every imported
    user must choose a new password at the first login; a row without a password gets a one-time one.

    Raises Forbidden (not an administrator), InvalidData (no rows; more than 2,000)."""
    _may_administer(actor)
    if not rows:
        raise InvalidData(msg("import.empty"), {"file": [msg("import.empty")]})
    if len(rows) > MAX_IMPORT_ROWS:
        raise InvalidData(msg("import.too_many_rows", max=MAX_IMPORT_ROWS),
                          {"file": [msg("import.too_many_rows", max=MAX_IMPORT_ROWS)]})
    errors, checked, seen = [], [], {}
    for item in rows:
        if item.login in seen:
            errors.append(RowError(item.row, "login", msg("import.duplicate_login", login=item.login)))
            continue
        seen[item.login] = item.row
        try:
            checked.append((item, _check_new_user(session, item.login, item.display_name, item.password,
                                                  _import_names(session, item.memberships), item.phone)))
        except (InvalidData, Conflict) as exc:
            field, said = next(iter((exc.details or {}).items()), ("login", []))
            column = "memberships" if field.startswith("memberships") or field == "role" else _COLUMN_OF.get(field, field)
            errors.append(RowError(item.row, column, said[0] if said else exc.message))  # the column's own words
    if errors or not apply:
        session.rollback()
        return ImportResult(errors, False, [])
    created = []
    for item, (display_name, phone, grants) in checked:
        password = item.password or one_time_password()
        _insert_user(session, actor, item.login, display_name, password, phone, grants, True, "user_imported")
        created.append((item.login, None if item.password else password))
    session.commit()
    log.info("%d users imported by %s", len(created), actor.username)
    return ImportResult([], True, created)


_UNSET = object()


def update_user(session: Session, actor: Actor, username: str, *, display_name=_UNSET, phone=_UNSET,
                active: bool | None = None, memberships: list[tuple[str, str]] | None = None) -> UserModel:
    """An administrator changes a user: display name, phone, active, memberships (the full new set). Commits, with
    one admin log row per kind of change (user_updated, user_disabled / user_enabled, memberships_changed).

    Disabling the user or revoking any of their roles ends every session and token at once, and every task they
    claimed that their remaining roles no longer reach returns to the pool (a task_released event each).

    Raises Forbidden (not an administrator), NotFound, InvalidData (the field named), Conflict (an administrator
    disabling themselves or revoking their own admin role; the last active administrator)."""
    _may_administer(actor)
    user = _user(session, username)
    now = runtime.of(session).clock.now()
    details = {}
    if display_name is not _UNSET:
        display_name = (display_name or "").strip()
        if not display_name:
            raise InvalidData(msg("form.invalid"), {"display_name": [msg("field.required")]})
        case_data.check_name("display_name", display_name)
        if display_name != user.display_name:
            details["display_name"] = (user.display_name, display_name)
    if phone is not _UNSET:
        phone = _check_phone(phone)
        if phone != user.phone:
            details["phone"] = (user.phone, phone)
    for key, (_old, new) in details.items():
        setattr(user, key, new)
    if details:
        admin_log.append(session, actor.username, now, "user_updated", "user", username,
                         {k: v[0] for k, v in details.items()}, {k: v[1] for k, v in details.items()})
    ends = False
    if memberships is not None:
        ends |= _set_memberships(session, actor, user, memberships, now)
    if active is not None and active != user.active:
        if not active:
            _not_the_last_admin(session, actor, user, "active")
        user.active = active
        ends |= not active
        released = [] if active else _release_claims(session, user, actor, now, keep=None, reason="user_disabled")
        admin_log.append(session, actor.username, now, "user_enabled" if active else "user_disabled", "user", username,
                         {"active": not active}, {"active": active, **({"released_tasks": released} if released else {})})
    if ends:
        _end_sessions_and_tokens(session, user)
    session.commit()
    session.refresh(user)
    log.info("user %s changed by %s", username, actor.username)
    return user


def _not_the_last_admin(session: Session, actor: Actor, user: UserModel, field: str) -> None:
    """Refuse an act that would leave the center without an administrator, or lock the actor out of the console."""
    if user.id == actor.user_id:
        raise Conflict(msg("admin.not_yourself"), {field: [msg("admin.not_yourself")]})
    admins = session.scalar(select(func.count(func.distinct(UserModel.id))).select_from(UserModel)
                            .join(MembershipModel, MembershipModel.user_id == UserModel.id)
                            .join(RoleModel, RoleModel.id == MembershipModel.role_id)
                            .where(RoleModel.name == ADMIN, UserModel.active.is_(True), UserModel.id != user.id))
    holds_admin = any(m.role.name == ADMIN for m in user.memberships)
    if holds_admin and user.active and not admins:
        raise Conflict(msg("admin.last_admin"), {field: [msg("admin.last_admin")]})


def _set_memberships(session: Session, actor: Actor, user: UserModel, memberships: list[tuple[str, str]],
                     now: datetime) -> bool:
    """Flushes: the user's memberships become exactly `memberships`; a revoke releases the claims the remaining
    roles no longer reach. Returns whether anything was revoked (the caller ends sessions and tokens)."""
    grants = _resolve_grants(session, memberships)
    before = {(m.role_id, m.org_unit_id): m for m in user.memberships}
    after = {(r.id, o.id) for r, o in grants}
    if before.keys() == after:
        return False
    revoked = [m for key, m in before.items() if key not in after]
    if any(m.role.name == ADMIN for m in revoked) and not any(r.name == ADMIN for r, _o in grants):
        _not_the_last_admin(session, actor, user, "memberships")
    old = _grants_of(user)
    for m in revoked:
        user.memberships.remove(m)
    for role, org in grants:
        if (role.id, org.id) not in before:
            user.memberships.append(MembershipModel(role_id=role.id, org_unit_id=org.id))
    session.flush()
    released = []
    if revoked:
        keep = {(r.name, o.id) for r, o in grants}
        released = _release_claims(session, user, actor, now, keep=keep, reason="role_revoked")
    new = {"memberships": [{"role": r.name, "org_unit": o.code} for r, o in
                           sorted(grants, key=lambda g: (g[1].code, g[0].name))]}
    if released:
        new["released_tasks"] = released
    admin_log.append(session, actor.username, now, "memberships_changed", "user", user.username,
                     {"memberships": old}, new)
    return bool(revoked)


def _release_claims(session: Session, user: UserModel, actor: Actor, now: datetime, keep: set | None,
                    reason: str) -> list[str]:
    """Flushes: every task the user claimed that no (role, org unit id) in `keep` is a candidate of goes back to its
    pool, under its case's lock, with a task_released event as a supervisor's release writes it. Returns their ids."""
    released = []
    for task_id in session.scalars(select(TaskModel.id).where(TaskModel.assignee == user.username)
                                   .order_by(TaskModel.id)).all():
        case = case_store.lock_case_of_task(session, task_id)
        if case is None:
            continue  # completed meanwhile
        row = session.execute(select(TaskModel.assignee, TaskModel.title).where(TaskModel.id == task_id)).first()
        if row is None or row.assignee != user.username:
            continue
        if keep:
            candidates = set(session.execute(select(TaskCandidateModel.role, TaskCandidateModel.org_unit_id)
                                             .where(TaskCandidateModel.task_id == task_id)).tuples())
            if candidates & keep:
                continue
        task_index.unclaim(session, task_id)
        chain.append_event(session, case, "task_released", actor.username, now, {"was": user.username, "reason": reason},
                           task_id, row.title)
        released.append(task_id)
        log.info("task %s of case %s released: %s (%s)", task_id, case.id, user.username, reason)
    return released


def one_time_password() -> str:
    """A random password for a reset (16 characters in groups of 4, none easily confused), shown once."""
    raw = "".join(secrets.choice(_ONE_TIME_ALPHABET) for _ in range(16))
    return "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def reset_password(session: Session, actor: Actor, username: str) -> str:
    """An administrator resets a user's password: a one-time password (returned, to be shown once; only its hash is
    kept) that the user must replace at the next login. Every session and token of the user ends. Commits, with a
    password_reset row in the admin log (without the password).

    Raises Forbidden (not an administrator), NotFound."""
    _may_administer(actor)
    user = _user(session, username)
    password = one_time_password()
    user.password_hash = hash_password(password, runtime.of(session))
    user.must_change_password = True
    _end_sessions_and_tokens(session, user)
    admin_log.append(session, actor.username, runtime.of(session).clock.now(), "password_reset", "user", username,
                     None, {"must_change_password": True})
    session.commit()
    log.info("password of %s reset by %s", username, actor.username)
    return password
