"""Typed SQLAlchemy 2.0 tables: current state (cases, tasks, timers) apart from append-only history (events)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (JSON, text, BigInteger, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer,
                        LargeBinary, String, Text, UniqueConstraint)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry, relationship
from sqlalchemy.types import TypeDecorator


# prev_hash of a case's first event
GENESIS_HASH = "0" * 64


class UTCDateTime(TypeDecorator):
    """Always aware UTC in Python; SQLite keeps naive UTC, PostgreSQL timestamptz."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    # An explicit registry (not a class-level type_annotation_map) so Flask-SQLAlchemy can subclass Base.
    registry = registry(type_annotation_map={datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON})


class OrgUnitModel(Base):
    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # city | county | township | village | department
    level: Mapped[int] = mapped_column(Integer)  # 0 city, 1 county, 2 township, 3 village (departments: their center's)
    area_code: Mapped[str] = mapped_column(String(6))  # administrative area code used in case codes
    # A resident department's presence (engine/presence.py): resident 常驻, rota 轮驻 (on rota_days), on_call 随驻
    presence: Mapped[str | None] = mapped_column(String(20))
    rota_days: Mapped[str | None] = mapped_column(String(20))  # 轮驻: ISO weekdays "2,4" (Tuesday, Thursday)
    phone: Mapped[str | None] = mapped_column(String(40))  # the unit's contact phone (the public look-up shows it)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    # 停用 (migration 0034): nothing new is routed to a disabled unit (routing.candidates refuses, naming it); its
    # open tasks stay where they are until handled or reassigned. Enabled again by an administrator.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    # Materialised path "/1/4/9/" so "this unit and below" is one indexed prefix match.
    path: Mapped[str] = mapped_column(String(400), index=True, default="/")

    parent: Mapped[OrgUnitModel | None] = relationship(remote_side=[id])


class RoleModel(Base):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str | None] = mapped_column(String(200))
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    # Names an administrator gave the role in the console (migration 0031); pages prefer them to the built-in ones
    name_zh: Mapped[str | None] = mapped_column(String(200))
    name_en: Mapped[str | None] = mapped_column(String(200))


class UserModel(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Stored in the browser session at login and compared on every request: logging out, disabling the user
    # or changing the password adds one, which ends every session signed before (migration 0013).
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    created_at: Mapped[datetime]
    phone: Mapped[str | None] = mapped_column(String(40))  # a work phone colleagues and the admin see (migration 0027)
    # Set by an administrator's password reset (a one-time password): the next login must choose a new one
    # before anything else (webui/auth_ui); cleared by set_password.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    last_login_at: Mapped[datetime | None]  # the last successful password login (browser or token)

    memberships: Mapped[list[MembershipModel]] = relationship(back_populates="user", cascade="all, delete-orphan")


class MembershipModel(Base):
    __tablename__ = "memberships"
    # role_org: who holds a role at a unit — the staffed-unit look-up of every task opened (migration 0012)
    __table_args__ = (UniqueConstraint("user_id", "role_id", "org_unit_id"),
                      Index("ix_memberships_role_org", "role_id", "org_unit_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"))
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))

    user: Mapped[UserModel] = relationship(back_populates="memberships")
    role: Mapped[RoleModel] = relationship(lazy="joined")
    org_unit: Mapped[OrgUnitModel] = relationship(lazy="joined")


class ApiTokenModel(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 of the token; the token is never stored
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # JIEFEN_TOKEN_DAYS after created_at (migration 0013)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[UserModel] = relationship(lazy="joined")


class ProcessVersionModel(Base):
    __tablename__ = "process_versions"
    __table_args__ = (UniqueConstraint("process_id", "version"), Index("ix_process_versions_sha", "process_id", "sha256"))

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(300))
    file_name: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    # Large columns load only when read (the spec cache reads them once per version).
    xml: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    spec_json: Mapped[str] = mapped_column(Text, deferred=True)  # serialized spec + called subprocess specs
    meta: Mapped[dict[str, Any]]  # user tasks (forms, candidates, due dates), start roles, timer docs
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)  # the deployer's change note (变更说明)


class DecisionVersionModel(Base):
    """A deployed DMN decision (decision table), versioned per decision id like processes: identical content is a
    no-op, a changed file is version n+1. The newest version is what a process deployed later embeds in its
    business rule tasks (engine/specs/dmn.py); a version never changes once stored."""

    __tablename__ = "decision_versions"
    __table_args__ = (UniqueConstraint("decision_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str | None] = mapped_column(String(300))
    file_name: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))  # of the DMN file
    xml: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    table_json: Mapped[dict[str, Any]] = mapped_column(deferred=True)  # the checked, translated table (dmn.py)
    deployed_at: Mapped[datetime]
    deployed_by: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)  # the deployer's change note (变更说明)


class ActiveVersionModel(Base):
    """The version new cases of a process start on (one row per process): the newest deployed unless an
    administrator activated another (a rollback). Running cases keep the version they started on."""

    __tablename__ = "active_versions"

    process_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"))
    activated_at: Mapped[datetime]
    activated_by: Mapped[str | None] = mapped_column(String(64))


class ProcessAuditModel(Base):
    """Append-only record of what administrators did to processes (deployed / activated), for auditors."""

    __tablename__ = "process_audit"
    __table_args__ = (Index("ix_process_audit_process_at", "process_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(20))  # deployed | activated
    process_id: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)


class ProcessDraftModel(Base):
    """A process being edited in the modeler (/admin/processes/<id>/model): its author's, autosaved, until it is
    deployed (then it goes) or discarded. `process_id` is None for a new process not yet deployed; the process
    id a deploy uses is the one in the XML."""

    __tablename__ = "process_drafts"
    __table_args__ = (Index("ix_process_drafts_author", "author", "updated_at"),
                      Index("ix_process_drafts_submitted", "submitted_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str | None] = mapped_column(String(200))
    base_version: Mapped[int | None] = mapped_column(Integer)  # the deployed version it started from
    author: Mapped[str] = mapped_column(String(64))  # only they see, save, deploy or discard it
    name: Mapped[str | None] = mapped_column(String(300))
    xml: Mapped[str] = mapped_column(Text, deferred=True)
    updated_at: Mapped[datetime]
    # handed over (issue 19): submitted for deployment by its author (administrators then see, open, deploy or
    # return it); returned with the administrator's note (back to its author alone)
    submitted_at: Mapped[datetime | None]
    submit_note: Mapped[str | None] = mapped_column(Text)
    returned_at: Mapped[datetime | None]
    returned_by: Mapped[str | None] = mapped_column(String(64))
    return_note: Mapped[str | None] = mapped_column(Text)


class DecisionDraftModel(Base):
    """A decision table being edited in the table editor (/admin/decisions/<id>/edit), as a process draft: its
    author's, autosaved, until it is deployed (then it goes) or discarded. `decision_id` is None for a new table
    not yet deployed; the decision id a deploy uses is the one in the XML."""

    __tablename__ = "decision_drafts"
    __table_args__ = (Index("ix_decision_drafts_author", "author", "updated_at"),
                      Index("ix_decision_drafts_submitted", "submitted_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[str | None] = mapped_column(String(200))
    base_version: Mapped[int | None] = mapped_column(Integer)  # the deployed version it started from
    author: Mapped[str] = mapped_column(String(64))  # only they see, save, deploy or discard it
    name: Mapped[str | None] = mapped_column(String(300))
    xml: Mapped[str] = mapped_column(Text, deferred=True)
    updated_at: Mapped[datetime]
    # handed over as a process draft is (migration 0037): submitted by its author, returned with a note
    submitted_at: Mapped[datetime | None]
    submit_note: Mapped[str | None] = mapped_column(Text)
    returned_at: Mapped[datetime | None]
    returned_by: Mapped[str | None] = mapped_column(String(64))
    return_note: Mapped[str | None] = mapped_column(Text)


class AdminEventModel(Base):
    """The admin log: every administrative act (who, when, what, on whom or what, old -> new), append-only and
    SHA-256 chained in one chain over the whole table like a case's history (engine/admin_log.py, migration
    0027). Written in the transaction of the act it records."""

    __tablename__ = "admin_events"
    __table_args__ = (UniqueConstraint("seq"), Index("ix_admin_events_at", "at"),
                      Index("ix_admin_events_target", "target_type", "target"))

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)  # 1, 2, 3 … with no gap: a deleted row breaks the chain
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(40), index=True)  # user_created, user_disabled, …
    target_type: Mapped[str] = mapped_column(String(20))  # user | …
    target: Mapped[str] = mapped_column(String(200))
    old: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    new: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AdminLogHeadModel(Base):
    """The admin log's head: the seq and hash of its last row, written with every append in the same transaction
    (engine/admin_log.py, migration 0038). The chain alone shows a row changed, removed or reordered inside it,
    but not its last rows deleted; verify compares the chain's end with this row, as a case's history is
    compared with the tail kept on the case row."""

    __tablename__ = "admin_log_head"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class CaseSequenceModel(Base):
    """Per-area, per-year counter for case codes; bumped with an atomic UPDATE so it never repeats."""

    __tablename__ = "case_sequences"

    area_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer, default=0)


# The outcome class of a closed case (the statistics' 化解 / 未化解 / 撤回 / 移送 / 不予受理): the end event's
# jiefen.outcome_class property (docs/designers.md), checked at deploy; stored by id in cases.outcome_class.
OUTCOME_CLASSES = {"resolved": "化解", "unresolved": "未化解", "withdrawn": "撤回", "transferred": "移送",
                   "not_accepted": "不予受理"}


class CaseModel(Base):
    __tablename__ = "cases"
    # ix_cases_opened: the ledger's newest (or oldest) first walks it and stops at the page (migration 0023).
    __table_args__ = (Index("ix_cases_status_org", "status", "org_unit_id"), Index("ix_cases_opened", "opened_at", "id"),
                      # the statistics' 超期在办: per unit a range of due_at, covering what they group by
                      Index("ix_cases_open_due", "status", "org_unit_id", "due_at", "category", "channel",
                            "process_id"),
                      # 群体性 / 高风险 (priority > 0, a few percent): the ledger's flagged-first part and its
                      # high_risk filter walk these alone, newest or oldest first (migration 0036)
                      Index("ix_cases_flagged", "opened_at", "id", sqlite_where=text("priority > 0"),
                            postgresql_where=text("priority > 0")),
                      # a party's other cases by their phone (重复件 / 重复信访; migration 0040)
                      Index("ix_cases_party_key", "party_key", "opened_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    process_version_id: Mapped[int] = mapped_column(ForeignKey("process_versions.id"))
    process_id: Mapped[str] = mapped_column(String(200), index=True)
    status: Mapped[str] = mapped_column(String(20), default="open")  # open | closed
    outcome: Mapped[str | None] = mapped_column(String(200))
    outcome_class: Mapped[str | None] = mapped_column(String(20))  # OUTCOME_CLASSES id, set when the case closes
    # 1 for a 群体性 / 高风险 case (engine/group_cases.flags of its data), else 0: lists and the ledger sort it first
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)  # the handling unit now
    # The unit that registered the case (首问负责: it gives the party feedback after 上报/交办) and the center
    # that handed the case down (交办) and stays responsible for it; NULL: none other than org_unit.
    first_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    responsible_unit_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"))
    category: Mapped[str | None] = mapped_column(String(100))
    tier: Mapped[str | None] = mapped_column(String(40))
    channel: Mapped[str | None] = mapped_column(String(40))
    party_phone: Mapped[str | None] = mapped_column(String(40))  # for the public lookup (code + phone)
    # the party phone's digits as case_codes.normalise_phone reads them (+86, spaces, full-width out): the key
    # that finds the same party's other cases (services/ledger.py same_party), kept with party_phone by each command
    party_key: Mapped[str | None] = mapped_column(String(40))
    opened_by: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    linked_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    link_kind: Mapped[str | None] = mapped_column(String(40))  # e.g. relapse
    data: Mapped[dict[str, Any]]  # the case data as the workflow holds it now
    # serialized workflow, spec by reference; deferred so lists never load it
    workflow_json: Mapped[str] = mapped_column(Text, deferred=True)
    task_count: Mapped[int] = mapped_column(Integer, default=0)  # size of the task tree, to watch growth
    lock_version: Mapped[int] = mapped_column(Integer, default=1)
    # The tail of the case's event chain, kept on the row (under the case lock) so that a command appends
    # without reading its history first, and verify sees a truncated history: it no longer ends here.
    event_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    event_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH, server_default=GENESIS_HASH)
    event_at: Mapped[datetime | None]
    # For the statistics (engine/stats.py): when a task of the case was first completed (its response) and
    # when one was first completed after its due date (the case is late); NULL: not yet.
    responded_at: Mapped[datetime | None]
    late_at: Mapped[datetime | None]
    # The earliest due date of its open BPMN tasks (NULL: none, or closed), kept by every command's save: the
    # statistics count the overdue open cases on ix_cases_open_due without reading the tasks.
    due_at: Mapped[datetime | None]

    version: Mapped[ProcessVersionModel] = relationship(lazy="select")
    org_unit: Mapped[OrgUnitModel] = relationship(lazy="joined", foreign_keys=[org_unit_id])
    first_unit: Mapped[OrgUnitModel | None] = relationship(lazy="select", foreign_keys=[first_unit_id])
    responsible_unit: Mapped[OrgUnitModel | None] = relationship(lazy="select", foreign_keys=[responsible_unit_id])

    __mapper_args__ = {"version_id_col": lock_version}


# due_sort of a task without a due date: after every real deadline, so one ascending index serves "due first"
NO_DUE_DATE = datetime(9999, 12, 31, tzinfo=timezone.utc)


def _due_sort_of(ctx) -> datetime:
    """Default of tasks.due_sort: the row's due_at, else NO_DUE_DATE."""
    return ctx.get_current_parameters().get("due_at") or NO_DUE_DATE


class TaskModel(Base):
    """One row per open human task, rebuilt from the workflow after every command."""

    __tablename__ = "tasks"
    # Partial: almost every open task is unclaimed, and with the NULLs in it SQLite's statistics made the
    # index look useless, so "my claimed tasks" scanned every task (2.6 s at 1,000,000 cases).
    __table_args__ = (Index("ix_tasks_org_due", "org_unit_id", "due_at"),
                      Index("ix_tasks_assignee", "assignee", sqlite_where=text("assignee IS NOT NULL"),
                            postgresql_where=text("assignee IS NOT NULL")),
                      # The supervised and all lists walk these in list order and stop at the page (migration
                      # 0008): a sort over every open task cost 200 ms at 1,000,000 cases. Each ends with the
                      # unit, so a supervisor's walk checks "my unit and below" on the entry (a village's
                      # page: 73 -> 3 ms without the row look-ups).
                      Index("ix_tasks_due_sort", "due_sort", "created_at", "id", "org_unit_id"),
                      Index("ix_tasks_created", "created_at", "id", "org_unit_id"),
                      Index("ix_tasks_warning", "warning_level", "due_sort", "id", "org_unit_id"),
                      # 群体性 / 高风险 first: the few flagged tasks in list order, walked beside the lists' own
                      # walks (migration 0025); partial, so the other tasks' writes never touch it.
                      Index("ix_tasks_flagged", "due_sort", "created_at", "id", "org_unit_id",
                            sqlite_where=text("priority > 0"), postgresql_where=text("priority > 0")))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # SpiffWorkflow task id, or "sv-…" follow-ups
    kind: Mapped[str] = mapped_column(String(20), default="bpmn")  # bpmn | supervision (ladder follow-up)
    source_task_id: Mapped[str | None] = mapped_column(String(40))  # the overdue task a follow-up is about
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    process_id: Mapped[str] = mapped_column(String(200))
    spec_name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(300))
    lane: Mapped[str | None] = mapped_column(String(200))
    roles: Mapped[list[Any]]
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"))
    assignee: Mapped[str | None] = mapped_column(String(64))
    due_at: Mapped[datetime | None]
    due_basis: Mapped[str | None] = mapped_column(Text)
    warning_level: Mapped[int] = mapped_column(Integer, default=0)  # 0 none, 1 提示, 2 催办, 3 督办, 4 挂牌督办
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # its case's priority (a copy)
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    # The last manual 催办 of a supervisor or director (services.tasks.urge_task, migration 0021): its holder
    # sees the note on the task page and a marker in the list; each one is also a task_urged event.
    urged_at: Mapped[datetime | None]
    urged_by: Mapped[str | None] = mapped_column(String(64))
    urge_note: Mapped[str | None] = mapped_column(Text)
    # due_at, or NO_DUE_DATE when none: the "due" sort key as a column its index serves (migration 0008).
    # Filled from due_at by default on every insert, ORM or Core; nullable only so that SQLite adds it
    # without rebuilding the table.
    due_sort: Mapped[datetime | None] = mapped_column(default=lambda ctx: _due_sort_of(ctx))

    # Commands already hold the case in the session; lists ask for it with joinedload (tasks.list_tasks).
    case: Mapped[CaseModel] = relationship(lazy="select")
    org_unit: Mapped[OrgUnitModel] = relationship(lazy="select")  # few rows: the identity map serves lists
    # Written with the task in one flush; read through the task_candidates index, not through this.
    candidates: Mapped[list[TaskCandidateModel]] = relationship(lazy="noload", cascade="save-update",
                                                                 passive_deletes=True)




class TaskCandidateModel(Base):
    """Who may act on an open task: one row per (task, role, org unit), carrying the task's sort keys.

    A task list is a walk along one of these indexes for each (role, org unit) the user holds, in the order
    the list is shown, so a page costs the same with 1,000 or 1,000,000 open tasks (bench/README.md)."""

    __tablename__ = "task_candidates"
    __table_args__ = (
        # The due walk also carries the searched copies, so a search (a substring: every row of the walk is
        # read) tests them in the index instead of fetching each row (migration 0007).
        Index("ix_task_candidates_due", "role", "org_unit_id", "due_sort", "created_at", "task_id", "case_code",
              "title"),
        Index("ix_task_candidates_created", "role", "org_unit_id", "created_at", "task_id"),
        Index("ix_task_candidates_warning", "role", "org_unit_id", "warning_level", "due_sort", "task_id"),
        # One category of a queue is an index range in due order: its page and its count read only its rows
        # (the assignee too, for "unassigned in a category").
        Index("ix_task_candidates_category", "role", "org_unit_id", "category", "due_sort", "created_at",
              "task_id", "assignee"),
        # One process of a queue, newest first: its page and its capped count as a range (migration 0010).
        Index("ix_task_candidates_process", "role", "org_unit_id", "process_id", "created_at", "task_id"),
        # 群体性 / 高风险 tasks of a queue in due order: the short walk that puts them first (migration 0025).
        # Partial: only flagged rows are in it, so the other rows' writes never touch it.
        Index("ix_task_candidates_flagged", "role", "org_unit_id", "due_sort", "created_at", "task_id",
              sqlite_where=text("priority > 0"), postgresql_where=text("priority > 0")),
        # The same walk with a process or a category filter (migration 0039): without them it takes the
        # process or category index above and reads every row of the queue's process or category.
        Index("ix_task_candidates_flagged_process", "role", "org_unit_id", "process_id", "created_at", "task_id",
              sqlite_where=text("priority > 0"), postgresql_where=text("priority > 0")),
        Index("ix_task_candidates_flagged_category", "role", "org_unit_id", "category", "due_sort", "created_at",
              "task_id", sqlite_where=text("priority > 0"), postgresql_where=text("priority > 0")),
    )

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), primary_key=True)
    # copies of the task's due_at (NO_DUE_DATE when none), created_at and warning_level
    due_sort: Mapped[datetime]
    created_at: Mapped[datetime]
    warning_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # the case's (群体性 / 高风险 first)
    # Copies of what the list filters on, so a walk checks them on this row without joining tasks and cases:
    # the task's assignee (NULL = unclaimed), process and title, its case's category and code. Written with
    # the row; claim / unclaim and a change of the case's category update them (migration 0006). Nullable
    # only so that adding them to a large SQLite table needs no rebuild; every writer fills them.
    assignee: Mapped[str | None] = mapped_column(String(64))
    process_id: Mapped[str | None] = mapped_column(String(200))
    category: Mapped[str | None] = mapped_column(String(100))
    case_code: Mapped[str | None] = mapped_column(String(40))
    title: Mapped[str | None] = mapped_column(String(300))


class TaskDraftModel(Base):
    """A task form saved without completing the task (保存草稿): its holder's unfinished entry, kept apart from the
    case data. One row per task, replaced on each save; it goes with the task's row when the task completes."""

    __tablename__ = "task_drafts"

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(String(64))  # whose entry: only they see it again
    data: Mapped[dict[str, Any]]
    saved_at: Mapped[datetime]


class CalendarYearModel(Base):
    """The calendar data a year's open deadlines were computed under (a digest: LegalCalendar.fingerprint), so
    that a changed config/calendar.toml is noticed and recomputed once (services/deadlines.recompute_changed_years).
    The row is also the lock: a scheduler claims it (claimed_by, claimed_until on the wall clock) before it
    recomputes, so one process of several does the work."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(64))
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None]
    recomputed_at: Mapped[datetime | None]  # the last recompute this row brought about


class CalendarNoticeModel(Base):
    """A year's calendar as an administrator entered it (the State Council notice: holidays and 调休 working days,
    and the center's closures in that year), layered over config/calendar.toml and the computed statutory days
    (services/calendar_admin.py). `version` grows on every save: each process compares the highest version with
    the one it serves (the same check interval as the calendar file) and serves the new calendar within seconds."""

    __tablename__ = "calendar_notices"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holidays: Mapped[list] = mapped_column(JSON)  # ["2027-01-01", ...]
    workdays: Mapped[list] = mapped_column(JSON)
    closures: Mapped[list] = mapped_column(JSON)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    version: Mapped[int] = mapped_column(Integer, index=True)
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime]


class SettingModel(Base):
    """One organisation setting an administrator changes in the console (services/settings_admin.py): the ladder
    policy, the lane -> role map, the group-case settings, the ranking weights. config/org.toml is the seed
    (written here by `jiefen init-db`; a key with no row serves the file's value). `version` is one counter over
    every key: each process compares the highest version with the one it serves and reloads within seconds."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer, index=True)
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime]


class SettingVersionModel(Base):
    """Every value a setting had, append-only: who saved it when, the value before and after. The ladder reads
    its versions (a task follows the policy in force when it opened, or a later one applied to open tasks)."""

    __tablename__ = "setting_versions"
    __table_args__ = (UniqueConstraint("key", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    old: Mapped[dict | None] = mapped_column(JSON)
    value: Mapped[dict] = mapped_column(JSON)
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[datetime]
    applies_to_open: Mapped[bool] = mapped_column(Boolean, default=False)  # the ladder: open tasks follow it too
    note: Mapped[str | None] = mapped_column(Text)


class TimerModel(Base):
    """One row per pending timer: BPMN timers of waiting tasks, and the next supervision-ladder step of each task."""

    __tablename__ = "timers"
    # Partial index over pending rows only: "what is due next" and the drain's claim stay a short index walk
    # however many timers have fired or wait far in the future (the only index by due_at: migration 0009),
    # in the claim's order, due_at then id, so rows due at the same moment need no sort (migration 0011).
    __table_args__ = (Index("ix_timers_due_id_pending", "due_at", "id", postgresql_where=text("fired_at IS NULL"),
                            sqlite_where=text("fired_at IS NULL")),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # bpmn | ladder
    name: Mapped[str] = mapped_column(String(300))
    ref: Mapped[str] = mapped_column(String(200))  # spiff task id (bpmn) or "task_id:step" (ladder)
    due_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    # The claim's lease, on the real (wall) clock of the drain, never on the moment it drains as of (--now):
    # short, and renewed while the drain works, so a killed drain's claims lapse in seconds (migration 0014).
    claimed_until: Mapped[datetime | None]
    fired_at: Mapped[datetime | None]
    # Failed firings so far; a failed timer is tried again at retry_at (wall clock) and, after the configured
    # number of attempts, becomes an incident: no drain takes it until an operator retries it (migration 0014).
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    retry_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    incident: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class CaseEventModel(Base):
    """Append-only case history, SHA-256 chained per case; written in the transaction of the change."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]
    actor: Mapped[str | None] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(40))
    task_id: Mapped[str | None] = mapped_column(String(40))
    task_name: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AttachmentModel(Base):
    """A file attached to a case (or one of its tasks): its bytes in the file store under `sha256`
    (engine/file_store.py), its upload an `attachment_added` event in the case's chain."""

    __tablename__ = "attachments"
    __table_args__ = (Index("ix_attachments_case_id", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime]
    event_seq: Mapped[int] = mapped_column(Integer)  # the attachment_added event that records it


class DocumentModel(Base):
    """A document issued from a case (调解协议书, 告知书 …): its PDF and print HTML in the file store under `sha256`
    and `html_sha256`, its issue a `document_issued` event in the case's chain. Never changed: a re-issue is a
    new row with the next `version` of its kind (engine/services/documents.py)."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("case_id", "kind", "version", name="uq_documents_case_kind_version"),
                      Index("ix_documents_case_id", "case_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64))  # of the PDF
    size: Mapped[int] = mapped_column(BigInteger)
    html_sha256: Mapped[str] = mapped_column(String(64))  # of the print view, as issued
    html_size: Mapped[int] = mapped_column(BigInteger)
    issued_by: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime]
    event_seq: Mapped[int] = mapped_column(Integer)  # the document_issued event that records it

    @property
    def name(self) -> str:
        """The document as people name it (the file name of its PDF, without the extension)."""
        return f"{self.title}（第{self.version}版）"


class LoginFailureModel(Base):
    """Failed logins per (username, client address), whether or not the name exists: the lock-out is kept in the
    database so every web worker shares it, and keyed by address so nobody can lock a user out for everyone."""

    __tablename__ = "login_failures"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    last_failed_at: Mapped[datetime] = mapped_column(index=True)  # rows quiet for a day are forgotten


class RateLimitModel(Base):
    """Fixed-window counters of the `limits` library (Flask-Limiter's backend) when no Redis is configured:
    webui/rate_limit.py's storage, shared by every server process through the database."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[float] = mapped_column(Float, index=True)  # epoch seconds, as `limits` counts time

class IncidentModel(Base):
    """A timer that kept failing (Camunda 7's job -> incident): kept out of the drain until an operator retries
    it or marks it resolved. The timer's kind, ref, name and due moment are copied: the case may drop the timer
    row later (a completed task takes its timers with it), the incident stays as the record."""

    __tablename__ = "incidents"
    __table_args__ = (Index("ix_incidents_open", "resolved_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    timer_id: Mapped[int | None] = mapped_column(Integer)  # no foreign key: the timer row may go, the record stays
    kind: Mapped[str] = mapped_column(String(20))  # bpmn | ladder, as the timer
    ref: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300))  # the timer's element as the case page names it
    element_id: Mapped[str | None] = mapped_column(String(200))  # the BPMN element that failed, when known
    due_at: Mapped[datetime]
    message: Mapped[str] = mapped_column(Text)  # English (the engine's default text)
    # The message by id (engine/messages.py) when the failure was an engine error: shown in the reader's language
    message_id: Mapped[str | None] = mapped_column(String(100))
    message_params: Mapped[dict | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(String(20))  # retried | resolved
    note: Mapped[str | None] = mapped_column(Text)

class IdempotencyKeyModel(Base):
    """A write request's Idempotency-Key, per user: written in the transaction of the request's command (so a
    command that committed has its key), the response stored once it is sent; purged after 24 hours."""

    __tablename__ = "idempotency_keys"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of method, path and body
    created_at: Mapped[datetime] = mapped_column(index=True)
    case_ids: Mapped[str | None] = mapped_column(String(200))  # the cases the command held, "12,13"
    status: Mapped[int | None]  # NULL until the response is stored
    response_headers: Mapped[dict[str, Any] | None]
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)

class AccessLogModel(Base):
    """Who read which case when, for reads granted by a read-all role (auditors, administrators): append-only,
    each row committed on its own, apart from the read it records (engine/access.py)."""

    __tablename__ = "access_log"
    __table_args__ = (Index("ix_access_log_case_at", "case_id", "at"),
                      Index("ix_access_log_username_at", "username", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    username: Mapped[str] = mapped_column(String(64))
    # No foreign key: the record of a read outlives whatever happens to the case row.
    case_id: Mapped[int] = mapped_column(Integer)
    what: Mapped[str] = mapped_column(String(20))  # case | events | verify | audit | diagram | receipt | task | document(s) | dossier
    basis: Mapped[str] = mapped_column(String(20))  # the grant that allowed it: auditor | admin


class StatsDailyModel(Base):
    """The statistics' daily counters (engine/stats.py): per China day, handling unit, process, category and
    channel, the sums of what the case commands recorded. Written in each command's transaction; a year's
    figures read a year of these rows."""

    __tablename__ = "stats_daily"
    __table_args__ = (Index("ix_stats_daily_unit_day", "org_unit_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    org_unit_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    category: Mapped[str] = mapped_column(String(100), primary_key=True)  # "" when the case has none
    channel: Mapped[str] = mapped_column(String(40), primary_key=True)
    received: Mapped[int] = mapped_column(Integer, default=0)
    closed: Mapped[int] = mapped_column(Integer, default=0)
    closed_on_time: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    handling_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
    responded: Mapped[int] = mapped_column(Integer, default=0)
    responded_on_time: Mapped[int] = mapped_column(Integer, default=0)
    rated: Mapped[int] = mapped_column(Integer, default=0)
    rated_satisfied: Mapped[int] = mapped_column(Integer, default=0)
    rated_basically: Mapped[int] = mapped_column(Integer, default=0)
    rated_dissatisfied: Mapped[int] = mapped_column(Integer, default=0)
    prompts: Mapped[int] = mapped_column(Integer, default=0)
    reminders: Mapped[int] = mapped_column(Integer, default=0)
    notices: Mapped[int] = mapped_column(Integer, default=0)
    listings: Mapped[int] = mapped_column(Integer, default=0)
    # under the unit that held the task (a resident department, a handling unit): group_by=dept
    tasks_opened: Mapped[int] = mapped_column(Integer, default=0)
    tasks_completed: Mapped[int] = mapped_column(Integer, default=0)
    tasks_completed_on_time: Mapped[int] = mapped_column(Integer, default=0)
    task_handling_seconds: Mapped[int] = mapped_column(BigInteger, default=0)
