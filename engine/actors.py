"""Who runs a command: the Actor (a user with role grants, or the system) and the built-in roles.

Below every service: the services, the access rule and the task list all read an Actor; none of them owns it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

ADMIN = "admin"
AUDITOR = "auditor"
DESIGNER = "designer"  # process designers: read processes and their versions (the workbench, issue 19)
BUILTIN_ROLES = {ADMIN: "系统管理员 / Administrator", AUDITOR: "审计员 / Auditor",
                 DESIGNER: "流程设计员 / Process designer"}
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
    session_version: int = 0  # users.session_version when loaded; a browser session must carry the same
    must_change_password: bool = False  # an administrator reset the password: choose a new one before anything else

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
    def is_designer(self) -> bool:
        return DESIGNER in self.roles

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
# Who a history event names when the party did it through the public look-up (a rating): never a username,
# which holds only letters, digits, _ . - (engine/services/users.py).
PARTY_ACTOR = "@party"
