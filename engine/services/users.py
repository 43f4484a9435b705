"""Users, roles, org units, memberships, API tokens, and the Actor a command runs as."""
from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from engine import case_data, runtime
from engine.errors import Conflict, Forbidden, InvalidData, NotFound
from engine.models import ApiTokenModel, MembershipModel, OrgUnitModel, RoleModel, UserModel

log = logging.getLogger(__name__)

ADMIN = "admin"
AUDITOR = "auditor"
BUILTIN_ROLES = {ADMIN: "系统管理员 / Administrator", AUDITOR: "审计员 / Auditor"}
# Roles whose holders see every task in their org unit and the units below it (oversight lists).
SUPERVISORY_ROLES = {"supervisor", "director"}


@dataclass(frozen=True)
class Grant:
    role: str
    org_unit_id: int
    org_path: str
    org_code: str


@dataclass(frozen=True)
class Actor:
    """Who runs a command: a user with role grants, or the system (scheduler, migrations)."""

    username: str
    user_id: int | None = None
    display_name: str | None = None
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    @property
    def roles(self) -> set[str]:
        return {g.role for g in self.grants}

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def is_auditor(self) -> bool:
        return AUDITOR in self.roles

    @property
    def is_system(self) -> bool:
        return self.user_id is None

    def holds(self, role: str, org_unit_id: int) -> bool:
        return any(g.role == role and g.org_unit_id == org_unit_id for g in self.grants)

    def supervises(self, org_path: str) -> bool:
        return any(g.role in SUPERVISORY_ROLES and org_path.startswith(g.org_path) for g in self.grants)

    def can_read_all(self) -> bool:
        return self.is_admin or self.is_auditor or self.is_system


SYSTEM = Actor(username="system")


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=runtime.get().settings.password_method)


def _org_by_code(session: Session, code: str) -> OrgUnitModel:
    org = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == code))
    if org is None:
        raise NotFound(f"机构不存在 / org unit {code!r} not found", {"org_unit": [f"unknown org unit {code!r}"]})
    return org


def top_org(session: Session) -> OrgUnitModel:
    org = session.scalar(select(OrgUnitModel).where(OrgUnitModel.parent_id.is_(None)).order_by(OrgUnitModel.id))
    if org is None:
        raise NotFound("没有顶级综治中心，请先运行 jiefen init-db / no top-level center: run `jiefen init-db`")
    return org


def _ensure_role(session: Session, name: str, title: str | None = None, builtin: bool = False) -> RoleModel:
    role = session.scalar(select(RoleModel).where(RoleModel.name == name))
    if role is None:
        role = RoleModel(name=name, title=title, builtin=builtin)
        session.add(role)
        session.flush()
    elif title and not role.title:
        role.title = title
    return role


def ensure_roles(session: Session, names: dict[str, str | None]) -> None:
    """Private-style helper used by deploy (flushes only): create roles that do not exist yet."""
    for name, title in names.items():
        _ensure_role(session, name, title)


def _add_org(session: Session, code: str, name: str, kind: str, level: int, area_code: str,
             parent: OrgUnitModel | None, presence: str | None = None) -> OrgUnitModel:
    org = OrgUnitModel(code=code, name=name, kind=kind, level=level, area_code=area_code,
                       parent_id=parent.id if parent else None, presence=presence, path="/")
    session.add(org)
    session.flush()
    org.path = f"{parent.path if parent else '/'}{org.id}/"
    return org


def init_directory(session: Session, center_code: str, center_name: str, area_code: str) -> OrgUnitModel:
    """Create the built-in roles and the top-level center if missing (idempotent). Commits."""
    if not (len(area_code) == 6 and area_code.isdigit()):
        raise InvalidData("行政区划代码必须是6位数字 / area code must be 6 digits", {"area_code": ["6 digits"]})
    for name, title in BUILTIN_ROLES.items():
        _ensure_role(session, name, title, builtin=True)
    org = session.scalar(select(OrgUnitModel).where(OrgUnitModel.parent_id.is_(None)))
    if org is None:
        org = _add_org(session, center_code, center_name, "county", 1, area_code, None)
    session.commit()
    return org


def add_org_unit(session: Session, code: str, name: str, kind: str, parent_code: str,
                 area_code: str | None = None, presence: str | None = None) -> OrgUnitModel:
    """Add an org unit under a parent (idempotent by code). Commits."""
    if kind not in {"county", "township", "village", "department"}:
        raise InvalidData(f"unknown org unit kind {kind!r}", {"kind": ["county|township|village|department"]})
    existing = session.scalar(select(OrgUnitModel).where(OrgUnitModel.code == code))
    if existing is not None:
        return existing
    parent = _org_by_code(session, parent_code)
    level = parent.level if kind == "department" else min(parent.level + 1, 3)
    org = _add_org(session, code, name, kind, level, area_code or parent.area_code, parent, presence)
    session.commit()
    return org


def create_user(session: Session, username: str, password: str, roles: list[str],
                org_codes: list[str] | None = None, display_name: str | None = None) -> UserModel:
    """Create a user holding each role in each org unit (default: the top-level center). Commits.

    Raises InvalidData (unknown role, weak input) or Conflict (username taken)."""
    if not username or not username.replace("_", "").replace(".", "").replace("-", "").isalnum():
        raise InvalidData("用户名无效 / invalid username", {"username": ["letters, digits, _ . - only"]})
    case_data.check_name("display_name", display_name)
    if len(password) < 8:
        raise InvalidData("密码至少8位 / password must have at least 8 characters", {"password": ["min 8"]})
    if not roles:
        raise InvalidData("至少需要一个角色 / at least one role is required", {"role": ["required"]})
    if session.scalar(select(UserModel).where(UserModel.username == username)) is not None:
        raise Conflict(f"用户已存在 / user {username!r} already exists")
    role_rows = []
    for name in roles:
        role = session.scalar(select(RoleModel).where(RoleModel.name == name))
        if role is None:
            known = ", ".join(session.scalars(select(RoleModel.name).order_by(RoleModel.name)))
            raise InvalidData(f"角色不存在 / unknown role {name!r} (known: {known})", {"role": [f"unknown role {name!r}"]})
        role_rows.append(role)
    orgs = [_org_by_code(session, code) for code in org_codes] if org_codes else [top_org(session)]
    user = UserModel(username=username, display_name=display_name or username, password_hash=hash_password(password),
                     created_at=runtime.get().clock.now())
    session.add(user)
    session.flush()
    for role in role_rows:
        for org in orgs:
            session.add(MembershipModel(user_id=user.id, role_id=role.id, org_unit_id=org.id))
    session.commit()
    log.info("user created: %s roles=%s", username, roles)
    return user


# Who is calling, in one statement: every request starts here (a web page from its session's username, an
# API call from its token), where the ORM took three to five (user, memberships, roles, units).
_U, _M, _R, _O, _T = (UserModel.__table__.c, MembershipModel.__table__.c, RoleModel.__table__.c,
                      OrgUnitModel.__table__.c, ApiTokenModel.__table__.c)
_ACTOR_COLUMNS = (_U.id, _U.username, _U.display_name, _U.active, _R.name.label("role"),
                  _M.org_unit_id, _O.path.label("org_path"), _O.code.label("org_code"))
_WITH_GRANTS = (UserModel.__table__.outerjoin(MembershipModel.__table__, _M.user_id == _U.id)
                .outerjoin(RoleModel.__table__, _R.id == _M.role_id)
                .outerjoin(OrgUnitModel.__table__, _O.id == _M.org_unit_id))
_ACTOR_BY_USERNAME = select(*_ACTOR_COLUMNS).select_from(_WITH_GRANTS).where(_U.username == bindparam("username"))
_ACTOR_BY_TOKEN = (select(*_ACTOR_COLUMNS, _T.revoked)
                   .select_from(ApiTokenModel.__table__.join(_WITH_GRANTS, _U.id == _T.user_id))
                   .where(_T.token_hash == bindparam("digest")))


def _actor_from_rows(rows) -> Actor | None:
    """The Actor from a user's rows of _ACTOR_COLUMNS (one per membership); None without rows or if inactive."""
    if not rows or not rows[0].active:
        return None
    grants = tuple(sorted((Grant(r.role, r.org_unit_id, r.org_path, r.org_code) for r in rows if r.role is not None),
                          key=lambda g: (g.role, g.org_path)))
    first = rows[0]
    return Actor(username=first.username, user_id=first.id, display_name=first.display_name, grants=grants)


def load_actor(session: Session, username: str) -> Actor:
    """The Actor for a username. Raises NotFound."""
    actor = _actor_from_rows(session.execute(_ACTOR_BY_USERNAME, {"username": username}).all())
    if actor is None:
        raise NotFound(f"用户不存在 / user {username!r} not found")
    return actor


def authenticate(session: Session, username: str, password: str, max_failures: int = 5,
                 lock_minutes: int = 15) -> Actor:
    """Check a password, counting failures and locking the account for a while after too many. Commits.

    Raises Forbidden (bad credentials or locked)."""
    now = runtime.get().clock.now()
    user = session.scalar(select(UserModel).where(UserModel.username == username))
    if user is None or not user.active:
        check_password_hash(hash_password("x" * 8), password)  # same work whether or not the user exists
        raise Forbidden("用户名或密码错误 / wrong username or password")
    if user.locked_until is not None and user.locked_until > now:
        raise Forbidden("账户已临时锁定，请稍后再试 / account temporarily locked after repeated failures",
                        {"locked_until": user.locked_until.isoformat()})
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until = now + timedelta(minutes=lock_minutes)
            user.failed_logins = 0
            log.warning("account locked after repeated failures: %s", username)
        session.commit()
        raise Forbidden("用户名或密码错误 / wrong username or password")
    from engine.demo import DEMO_PASSWORD

    if password == DEMO_PASSWORD and not runtime.get().settings.demo_mode:
        raise Forbidden("演示密码仅在演示模式下可用，请修改密码 / the demo password only works in demo mode")
    user.failed_logins = 0
    user.locked_until = None
    session.commit()
    return load_actor(session, username)


def issue_token(session: Session, username: str) -> str:
    """Create a bearer token for a user; only its hash is stored. Commits. Raises NotFound."""
    user = session.scalar(select(UserModel).where(UserModel.username == username))
    if user is None or not user.active:
        raise NotFound(f"用户不存在 / user {username!r} not found")
    token = secrets.token_urlsafe(32)
    session.add(ApiTokenModel(user_id=user.id, token_hash=hashlib.sha256(token.encode()).hexdigest(),
                              created_at=runtime.get().clock.now()))
    session.commit()
    return token


def actor_for_token(session: Session, token: str) -> Actor:
    """The Actor behind a bearer token. Raises Forbidden for unknown or revoked tokens."""
    digest = hashlib.sha256(token.encode()).hexdigest()
    rows = session.execute(_ACTOR_BY_TOKEN, {"digest": digest}).all()
    actor = None if not rows or rows[0].revoked else _actor_from_rows(rows)
    if actor is None:
        raise Forbidden("令牌无效 / invalid or revoked token")
    return actor


def list_roles(session: Session) -> list[RoleModel]:
    return list(session.scalars(select(RoleModel).order_by(RoleModel.builtin.desc(), RoleModel.name)))


def list_org_units(session: Session) -> list[OrgUnitModel]:
    return list(session.scalars(select(OrgUnitModel).order_by(OrgUnitModel.path)))
