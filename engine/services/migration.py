"""Migrating running cases from one version of a process to another (issue 19 §4): the dry run that says per
case whether it can move and how, and the run that moves each movable case in its own transaction with a
`case_migrated` event — every task keeping its due date and every timer its moment (engine/migration.py)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import case_store, casework, migration, runtime, task_index
from engine.actors import Actor
from engine.clock import running_at
from engine.errors import CaseError, Forbidden, InvalidData, NotFound
from engine.messages import Message, msg
from engine.models import CaseModel, ProcessAuditModel, ProcessVersionModel
from engine.versions import LoadedVersion, load_version

log = logging.getLogger(__name__)

NOTE_MAX = 2000


@dataclass
class CaseMigration:
    """One open case of the old version: its open steps and their counterparts, whether it can move (reasons
    empty) and, after a real run, whether it moved."""

    case_id: int
    code: str
    steps: list[migration.StepMove] = field(default_factory=list)
    reasons: list[Message] = field(default_factory=list)
    warnings: list[Message] = field(default_factory=list)
    selected: bool = True
    migrated: bool = False

    @property
    def movable(self) -> bool:
        return not self.reasons


@dataclass
class MigrationReport:
    process_id: str
    from_version: int
    to_version: int
    dry_run: bool
    task_mapping: dict[str, str]
    cases: list[CaseMigration]
    # the user tasks of each version as (id, name), for choosing a mapping
    source_tasks: list[tuple[str, str]] = field(default_factory=list)
    target_tasks: list[tuple[str, str]] = field(default_factory=list)

    @property
    def migrated(self) -> int:
        return sum(1 for c in self.cases if c.migrated)


def _version(session: Session, process_id: str, version: int, field_name: str) -> ProcessVersionModel:
    row = session.scalar(select(ProcessVersionModel).where(ProcessVersionModel.process_id == process_id,
                                                           ProcessVersionModel.version == version))
    if row is None:
        if session.scalar(select(ProcessVersionModel.id).where(ProcessVersionModel.process_id == process_id)
                          .limit(1)) is None:
            raise NotFound(msg("process.not_deployed", process_id=process_id),
                           {"process_id": [msg("field.not_deployed")]})
        raise NotFound(msg("process.no_such_version", process_id=process_id, version=version),
                       {field_name: [msg("field.no_such_version", version=version)]})
    return row


def _check_mapping(mapping: dict[str, str], old: LoadedVersion, new: LoadedVersion) -> None:
    """Every key a user task of the old version, every value one of the new version (else InvalidData)."""
    problems = []
    for source, target in mapping.items():
        if old.user_task(source) is None:
            problems.append(msg("migration.not_a_source_task", element_id=source, version=old.version))
        if new.user_task(target) is None:
            problems.append(msg("migration.not_a_target_task", element_id=target, version=new.version))
    if problems:
        raise InvalidData(problems[0], {"task_mapping": problems})


def _user_tasks(version: LoadedVersion) -> list[tuple[str, str]]:
    return [(task_id, info.get("name") or task_id) for task_id, info in version.meta["user_tasks"].items()]


def _note(note: str | None) -> str | None:
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidData(msg("process.note_too_long", max=NOTE_MAX), {"note": [msg("field.at_most", max=NOTE_MAX)]})
    return note


def migrate_cases(session: Session, process_id: str, from_version: int, to_version: int, actor: Actor, *,
                  task_mapping: dict[str, str] | None = None, dry_run: bool = True,
                  case_ids: list[int] | None = None, note: str | None = None) -> MigrationReport:
    """Move the open cases of `from_version` to `to_version` (or, with dry_run, say per case what would happen).

    `task_mapping`: {user task id in from_version: user task id in to_version} for open steps the new version
    renamed or replaced (elements keeping their id need none). `case_ids`: the cases to move (default: every
    movable one). A case that cannot move safely is reported with its reasons and left untouched; each moved
    case is one transaction (a `case_migrated` event), and the run is recorded in the process record
    (process_audit) with the note. Administrators only. Commits (per case; a dry run writes nothing).

    Raises Forbidden, NotFound (process or version), InvalidData (same version, a bad mapping, a case not of
    this process, a note too long)."""
    if not (actor.is_admin or actor.is_system):
        raise Forbidden(msg("migration.forbidden"))
    note = _note(note)
    mapping = dict(task_mapping or {})
    old_row = _version(session, process_id, from_version, "from_version")
    new_row = _version(session, process_id, to_version, "to_version")
    if old_row.id == new_row.id:
        raise InvalidData(msg("migration.same_version", version=to_version),
                          {"to_version": [msg("migration.same_version", version=to_version)]})
    old, new = load_version(session, old_row.id), load_version(session, new_row.id)
    _check_mapping(mapping, old, new)
    open_ids = list(session.scalars(select(CaseModel.id).where(CaseModel.process_version_id == old.id,
                                                               CaseModel.status == "open").order_by(CaseModel.id)))
    wanted = set(open_ids) if case_ids is None else set(case_ids)
    strays = sorted(wanted - set(open_ids))
    if strays:
        raise InvalidData(msg("migration.case_not_on_version", case_id=strays[0], version=from_version),
                          {"case_ids": [msg("migration.case_not_on_version", case_id=c, version=from_version)
                                        for c in strays[:20]]})
    report = MigrationReport(process_id, from_version, to_version, dry_run, mapping, [], _user_tasks(old),
                             _user_tasks(new))
    for case_id in open_ids:
        if dry_run:
            report.cases.append(_preview(session, case_id, old, new, mapping, case_id in wanted))
        elif case_id in wanted:
            report.cases.append(_move(session, case_id, old, new, mapping, actor, note))
    if not dry_run and report.migrated:
        codes = "、".join(c.code for c in report.cases if c.migrated)
        summary = f"从第{from_version}版迁移{report.migrated}件在办案件 / migrated {report.migrated} case(s) from v{from_version}"
        summary = f"{summary}: {codes[:1200]}" + (f" — {note}" if note else "")
        session.add(ProcessAuditModel(at=runtime.of(session).clock.now(), actor=actor.username, action="migrated",
                                      process_id=process_id, version=to_version, note=summary[:NOTE_MAX]))
        session.commit()
        log.info("%s migrated %s case(s) of %s from v%s to v%s", actor.username, report.migrated, process_id,
                 from_version, to_version)
    return report


def _examine(session: Session, case: CaseModel, old: LoadedVersion, new: LoadedVersion,
             mapping: dict[str, str], out: CaseMigration):
    """Restore the case, plan the move and try it on the restored workflow: (workflow before, moved workflow)
    or (workflow, None) with the reasons in `out`."""
    rt = runtime.of(session)
    _version, workflow = casework.restore(session, case)
    plan = migration.plan(workflow, old, new, mapping)
    out.steps, out.reasons, out.warnings = plan.steps, list(plan.reasons), list(plan.warnings)
    if not plan.movable:
        return workflow, None
    try:
        _version, trial = casework.restore(session, case)  # the move changes the workflow it is given
        with running_at(rt.clock.now()):
            moved = migration.migrate(trial, old, new, mapping, rt.script_engine)
            casework.run_engine(moved)
    except (CaseError, ValueError, KeyError, TypeError) as exc:
        out.reasons.append(msg("migration.not_restorable", version=new.version, error=str(exc)))
        return workflow, None
    return workflow, moved


def _preview(session: Session, case_id: int, old: LoadedVersion, new: LoadedVersion, mapping: dict[str, str],
             selected: bool) -> CaseMigration:
    case = session.get(CaseModel, case_id)
    out = CaseMigration(case.id, case.code, selected=selected)
    _examine(session, case, old, new, mapping, out)
    return out


def _move(session: Session, case_id: int, old: LoadedVersion, new: LoadedVersion, mapping: dict[str, str],
          actor: Actor, note: str | None) -> CaseMigration:
    """One case, one transaction: locked, checked again, moved and saved with its case_migrated event; a case
    that cannot move is rolled back untouched."""
    now = runtime.of(session).clock.now()
    case = case_store.lock_case(session, case_id)
    out = CaseMigration(case.id, case.code)
    if case.status != "open" or case.process_version_id != old.id:
        out.reasons.append(msg("migration.no_longer_open", version=old.version))
        session.rollback()
        return out
    workflow, moved = _examine(session, case, old, new, mapping, out)
    if moved is None:
        session.rollback()
        return out
    try:
        _apply_move(session, case, workflow, old, new, mapping, actor, note, now, out)
        session.commit()
    except CaseError as exc:
        session.rollback()
        out.reasons.append(msg("migration.not_restorable", version=new.version, error=str(exc.message)))
        return out
    out.migrated = True
    log.info("case %s migrated from %s v%s to v%s", case.id, case.process_id, old.version, new.version)
    return out


def _apply_move(session: Session, case: CaseModel, workflow, old: LoadedVersion, new: LoadedVersion,
                mapping: dict[str, str], actor: Actor, note: str | None, now, out: CaseMigration) -> None:
    ctx = casework.Ctx(session, case, old, workflow, now, actor.username)
    casework.snapshot(ctx)
    with running_at(now):
        ctx.workflow = migration.migrate(workflow, old, new, mapping, runtime.of(session).script_engine)
        casework.run_engine(ctx.workflow)
        ctx.version = new
        case.process_version_id = new.id
        for step in out.steps:
            if step.kind == "task" and step.to_id is not None and (step.to_id, step.to_name) != (step.from_id,
                                                                                                  step.from_name):
                info = new.user_task(step.to_id) or {}
                task_index.repoint(ctx.writes, step.task_id, step.to_id, step.to_name, info.get("lane"))
        command = {"from_version_id": old.id, "to_version_id": new.id, "from_version": old.version,
                   "to_version": new.version, "task_mapping": mapping, "note": note}
        casework.save(ctx, "case_migrated", command, extra={
            "moved": [{"task_id": s.task_id, "kind": s.kind, "from": s.from_id, "from_name": s.from_name,
                       "to": s.to_id, "to_name": s.to_name} for s in out.steps]})
