"""Deployments: versioned BPMN per process id, versioned DMN decision tables per decision id, and the parsed-spec
cache behind every case.

A decision table reaches cases through the processes that use it: a process deployed embeds the newest version of
each decision its business rule tasks name (engine/specs/dmn.py), so deploying a changed table also deploys a new
version of every process that uses it (as a changed called process does); running cases keep theirs."""
from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, undefer

from engine import routing, runtime, specs
from engine.actors import Actor
from engine.directory import ensure_roles
from engine.errors import Conflict, Forbidden, InvalidData, NotFound, ProcessDefinitionError, Problem
from engine.messages import msg
from engine.models import (ActiveVersionModel, CaseModel, DecisionDraftModel, DecisionVersionModel, OrgUnitModel,
                           ProcessAuditModel, ProcessDraftModel, ProcessVersionModel)
from engine.specs import dmn
from engine.specs.diff import ElementChange, diff_definitions
from engine.specs.dmn_diff import TableChange, diff_decisions
from engine.versions import (LoadedVersion, _not_deployed, active_loaded_version, load_version,  # noqa: F401
                             version_number)  # public here too

log = logging.getLogger(__name__)


@dataclass
class DeployResult:
    process_id: str  # the process id, or the decision id when kind is "decision"
    version: int
    sha256: str
    name: str | None
    created: bool
    kind: str = "process"  # "process" | "decision"


def _meta(defn: specs.ProcessDefinition, called_versions: dict[str, str]) -> dict:
    props = defn.jiefen_properties
    return {
        "open_case": {eid: {"process_id": p["open_case"], "link_kind": p.get("link_kind", "reopened")}
                      for eid, p in props.items() if "open_case" in p},
        "move_case": {eid: p["move_case"] for eid, p in props.items() if "move_case" in p},
        "expiry": {eid: p["expiry"] for eid, p in props.items() if "expiry" in p},
        "outcome_class": {eid: specs.outcome_class_id(p["outcome_class"]) for eid, p in props.items()
                          if "outcome_class" in p},
        "called_versions": called_versions,
        "user_tasks": {name: asdict(info) for name, info in defn.user_tasks.items()},
        "start_roles": list(defn.start_roles),
        "start_form": [asdict(fld) for fld in defn.start_form],
        "first_user_tasks": list(defn.first_user_tasks),
        "called_processes": list(defn.called_processes),
        "timer_docs": dict(defn.timer_docs),
        "data_labels": specs.data_labels(props.get(defn.process_id) or {}),
        "decisions": dict(defn.decisions),  # decision id -> sha256 of the embedded table's DMN file
    }


def _check_named_units(session: Session, definitions) -> None:
    """What deploy time can know of routing: a candidate group naming a unit (`role@CODE`) needs that unit.
    (Whether somebody holds a role is known when a task opens: engine/routing.py refuses it then.)"""
    problems = []
    known: dict[str, bool] = {}
    for defn in definitions:
        for name, info in defn.user_tasks.items():
            for entry in info.candidate_groups:
                role, _, code = str(entry).partition("@")
                code = code.strip()
                if not code or code in ("parent", "first"):
                    continue
                if code.startswith(routing.UNIT_OF):
                    if not code.removeprefix(routing.UNIT_OF).strip():
                        problems.append(Problem(f"candidateGroups '{entry}': name the role whose unit is meant "
                                                f"(role@unit_of:competent_body).", element_id=info.id))
                    continue
                if code not in known:
                    known[code] = session.scalar(select(OrgUnitModel.id).where(OrgUnitModel.code == code)) is not None
                if not known[code]:
                    problems.append(Problem(f"candidateGroups '{entry}': there is no org unit with code '{code}' "
                                            f"(use role@parent, role@first, role@unit_of:<role> or the code of an existing unit).",
                                            element_id=info.id))
    if problems:
        raise ProcessDefinitionError(f"{len(problems)} problem(s) in the candidate groups", problems)


def deploy(session: Session, files: dict[str, bytes], actor: Actor, note: str | None = None) -> list[DeployResult]:
    """Deploy BPMN files: identical content is a no-op, changed content becomes version n+1 with the change
    note, recorded (process_audit) and made the active version (new cases start on it). Commits.

    Raises Forbidden (not an administrator), InvalidData (a note too long) or ProcessDefinitionError (every
    problem found)."""
    results = _deploy(session, files, actor, note)
    session.commit()
    return results


def _deploy(session: Session, files: dict[str, bytes], actor: Actor, note: str | None) -> list[DeployResult]:
    """deploy() without its commit (a draft's deploy also removes the draft in the same transaction). DMN files
    in the batch are deployed first, so its BPMN files embed their tables. Flushes."""
    if not (actor.is_admin or actor.is_system):
        raise Forbidden(msg("process.deploy_forbidden"))
    note = _note(note)
    dmn_files = {name: data for name, data in files.items() if dmn.is_dmn_name(name)}
    files = {name: data for name, data in files.items() if name not in dmn_files}
    results: list[DeployResult] = []
    if dmn_files:
        results += _store_decisions(session, dmn.parse_decisions(dmn_files, runtime.of(session).script_limits),
                                    actor, note)
    definitions: list[specs.ProcessDefinition] = []
    if files:
        available = _active_files(session, exclude=set(files))
        definitions = specs.parse_files(files, available, runtime.of(session).script_limits,
                                        _decision_tables(session))
        _check_named_units(session, definitions)
        results += _store_versions(session, definitions, actor, note)
    # A process embeds the tables of its business rule tasks: when a table changed, the processes using it (and
    # not deployed in this batch) get a new version, so new cases use the new table.
    changed_tables = {r.process_id for r in results if r.created and r.kind == "decision"}
    users = [row for row in list_processes(session)
             if row.process_id not in {d.process_id for d in definitions}
             and changed_tables & set(row.meta.get("decisions") or {})]
    if users:
        because = ("所用决策表已变更，随之重新部署 / redeployed as the decision table it uses changed: "
                   + "、".join(sorted(changed_tables)))
        results += _redeploy(session, users, actor, because)
    # A caller embeds the called processes' specs: when one of them changed, the callers get a new version
    # too, so new cases run the new called process (running cases keep the version they started on).
    changed = {r.process_id for r in results if r.created and r.kind == "process"}
    done = {d.process_id for d in definitions} | {r.process_id for r in results if r.kind == "process"}
    callers = [row for row in list_processes(session)
               if row.process_id not in done and changed & set(row.meta.get("called_processes") or [])]
    if callers:
        # stored data, read by people of either language (like the designers' own notes)
        because = "所调用的流程已变更，随之重新部署 / redeployed as the process it calls changed: " + "、".join(sorted(changed))
        results += _redeploy(session, callers, actor, because)
    return results


def _redeploy(session: Session, rows: list[ProcessVersionModel], actor: Actor, because: str) -> list[DeployResult]:
    """Deploy the active versions `rows` again (what they call or use changed). Flushes."""
    row_files = {row.file_name: row.xml for row in rows}
    redeployed = specs.parse_files(row_files, _active_files(session, exclude=set(row_files)),
                                   runtime.of(session).script_limits, _decision_tables(session))
    wanted = {row.process_id for row in rows}
    return _store_versions(session, [d for d in redeployed if d.process_id in wanted], actor, because)


def validate(session: Session, files: dict[str, bytes], actor: Actor) -> list[Problem]:
    """Every problem a deploy of these files would refuse them for, nothing stored: the same parse and checks as
    deploy (calls resolved against the active versions). An empty list: the files would deploy. Administrators
    and process designers. Read-only.

    Raises Forbidden."""
    if not (actor.is_admin or actor.is_designer or actor.is_system):
        raise Forbidden(msg("process.validate_forbidden"))
    try:
        dmn_files = {name: data for name, data in files.items() if dmn.is_dmn_name(name)}
        files = {name: data for name, data in files.items() if name not in dmn_files}
        tables = _decision_tables(session)
        if dmn_files:
            tables.update({d.decision_id: d.table
                           for d in dmn.parse_decisions(dmn_files, runtime.of(session).script_limits)})
        if not files:
            return []
        definitions = specs.parse_files(files, _active_files(session, exclude=set(files)),
                                        runtime.of(session).script_limits, tables)
        _check_named_units(session, definitions)
    except ProcessDefinitionError as exc:
        return list(exc.problems)
    return []


def _called_versions(session: Session, defn: specs.ProcessDefinition) -> dict[str, str]:
    """What a caller embeds: the active version of each process it calls, by sha."""
    out = {}
    for pid in defn.called_processes:
        active = _active(session, pid)
        if active is not None:
            out[pid] = active.sha256
    return out


def _called_first(definitions: list[specs.ProcessDefinition]) -> list[specs.ProcessDefinition]:
    """The batch ordered so that a called process is stored before its callers: a caller records the version of
    what it calls, so a caller deployed in the same batch as a new called process must see it stored (else the
    next deploy of the same files would make a needless caller version). Call cycles keep the given order."""
    by_id = {d.process_id: d for d in definitions}
    ordered: list[specs.ProcessDefinition] = []
    placing: set[str] = set()

    def place(defn: specs.ProcessDefinition) -> None:
        if defn in ordered or defn.process_id in placing:
            return
        placing.add(defn.process_id)
        for called in defn.called_processes:
            if called in by_id:
                place(by_id[called])
        ordered.append(defn)

    for defn in definitions:
        place(defn)
    return ordered


def _store_versions(session: Session, definitions: list[specs.ProcessDefinition], actor: Actor,
                    note: str | None) -> list[DeployResult]:
    """Store each definition as version n+1 unless its XML and its called processes are unchanged; a stored one
    becomes the active version and is recorded. Flushes."""
    rt = runtime.of(session)
    results = []
    for defn in _called_first(definitions):
        latest = _latest(session, defn.process_id)
        called = _called_versions(session, defn)
        if (latest is not None and latest.sha256 == defn.sha256 and latest.meta.get("called_versions", {}) == called
                and latest.meta.get("decisions", {}) == defn.decisions):
            results.append(DeployResult(defn.process_id, latest.version, latest.sha256, latest.name, False))
            continue
        row = ProcessVersionModel(
            process_id=defn.process_id, version=(latest.version + 1) if latest else 1, name=defn.name,
            file_name=defn.file_name, sha256=defn.sha256, xml=defn.xml, spec_json=specs.serialize_spec(defn),
            meta=_meta(defn, called), deployed_at=rt.clock.now(), deployed_by=actor.username, note=note)
        session.add(row)
        session.flush()
        _make_active(session, row, actor, "deployed", note)
        ensure_roles(session, specs.roles_named(defn, rt.settings.lane_roles))
        results.append(DeployResult(defn.process_id, row.version, row.sha256, row.name, True))
        log.info("deployed %s version %s (%s)", row.process_id, row.version, row.sha256[:12])
    return results


# -- decision tables (DMN) -----------------------------------------------------------------------------------------

def _store_decisions(session: Session, definitions: list[dmn.DecisionDefinition], actor: Actor,
                     note: str | None) -> list[DeployResult]:
    """Store each decision as version n+1 unless its file is unchanged. Flushes."""
    now = runtime.of(session).clock.now()
    results = []
    for defn in definitions:
        latest = _latest_decision(session, defn.decision_id)
        if latest is not None and latest.sha256 == defn.sha256:
            results.append(DeployResult(defn.decision_id, latest.version, latest.sha256, latest.name, False,
                                        "decision"))
            continue
        row = DecisionVersionModel(decision_id=defn.decision_id, version=(latest.version + 1) if latest else 1,
                                   name=defn.name, file_name=defn.file_name, sha256=defn.sha256, xml=defn.xml,
                                   table_json=defn.table, deployed_at=now, deployed_by=actor.username, note=note)
        session.add(row)
        session.flush()
        session.add(ProcessAuditModel(at=now, actor=actor.username, action="decision_deployed",
                                      process_id=defn.decision_id, version=row.version, note=note))
        results.append(DeployResult(defn.decision_id, row.version, row.sha256, row.name, True, "decision"))
        log.info("deployed decision %s version %s (%s)", row.decision_id, row.version, row.sha256[:12])
    return results


def _latest_decision(session: Session, decision_id: str) -> DecisionVersionModel | None:
    return session.scalar(select(DecisionVersionModel).where(DecisionVersionModel.decision_id == decision_id)
                          .order_by(DecisionVersionModel.version.desc()).limit(1))


def _decision_tables(session: Session) -> dict[str, dict]:
    """The translated table of the newest version of every deployed decision, by decision id."""
    newest = (select(DecisionVersionModel.decision_id, func.max(DecisionVersionModel.version).label("version"))
              .group_by(DecisionVersionModel.decision_id).subquery())
    rows = session.execute(select(DecisionVersionModel.decision_id, DecisionVersionModel.table_json).join(
        newest, (newest.c.decision_id == DecisionVersionModel.decision_id)
        & (newest.c.version == DecisionVersionModel.version)))
    return {decision_id: table for decision_id, table in rows}


@dataclass
class DecisionVersionInfo:
    version: int
    sha256: str
    name: str | None
    file_name: str
    deployed_at: object
    deployed_by: str | None
    note: str | None


@dataclass
class DecisionInfo:
    """A deployed decision with its versions (newest first) and the processes whose active version uses it."""

    decision_id: str
    name: str | None
    latest_version: int
    hit_policy: str
    versions: list[DecisionVersionInfo]
    used_by: list[str]


def list_decisions(session: Session, actor: Actor, decision_id: str | None = None) -> list[DecisionInfo]:
    """Every deployed decision (or one) with its versions, newest first. Administrators, auditors and designers.

    Raises Forbidden; NotFound for an unknown decision_id."""
    _may_read_processes(actor)
    query = select(DecisionVersionModel).options(undefer(DecisionVersionModel.table_json)).order_by(
        DecisionVersionModel.decision_id, DecisionVersionModel.version.desc())
    if decision_id is not None:
        query = query.where(DecisionVersionModel.decision_id == decision_id)
    rows = list(session.scalars(query))
    if decision_id is not None and not rows:
        raise _decision_not_deployed(decision_id)
    users: dict[str, list[str]] = {}
    for proc in list_processes(session):
        for used in proc.meta.get("decisions") or {}:
            users.setdefault(used, []).append(proc.process_id)
    out: dict[str, DecisionInfo] = {}
    for row in rows:
        info = out.get(row.decision_id)
        if info is None:
            info = out[row.decision_id] = DecisionInfo(row.decision_id, row.name, row.version,
                                                       row.table_json.get("hit_policy", ""), [],
                                                       sorted(users.get(row.decision_id, [])))
        info.versions.append(DecisionVersionInfo(row.version, row.sha256, row.name, row.file_name, row.deployed_at,
                                                 row.deployed_by, row.note))
    return list(out.values())


def decision_xml(session: Session, actor: Actor, decision_id: str, version: int | None = None) -> tuple[int, bytes]:
    """The DMN XML of a decision's version (the newest by default) and its number, for the editor.
    Administrators, auditors and designers. Raises Forbidden, NotFound."""
    _may_read_processes(actor)
    query = select(DecisionVersionModel).where(DecisionVersionModel.decision_id == decision_id)
    if version is not None:
        query = query.where(DecisionVersionModel.version == version)
    row = session.scalar(query.order_by(DecisionVersionModel.version.desc()).limit(1))
    if row is None:
        if version is not None and _latest_decision(session, decision_id) is not None:
            raise NotFound(msg("decision.no_such_version", decision_id=decision_id, version=version),
                           {"version": [msg("field.no_such_version", version=version)]})
        raise _decision_not_deployed(decision_id)
    return row.version, row.xml


def _decision_not_deployed(decision_id: str) -> NotFound:
    return NotFound(msg("decision.not_deployed", decision_id=decision_id),
                    {"decision_id": [msg("field.not_deployed")]})


_LATEST = (select(ProcessVersionModel).where(ProcessVersionModel.process_id == bindparam("process_id"))
           .order_by(ProcessVersionModel.version.desc()).limit(1))  # the newest: numbers the next version


def _latest(session: Session, process_id: str) -> ProcessVersionModel | None:
    return session.scalar(_LATEST, {"process_id": process_id})


def _active(session: Session, process_id: str) -> ProcessVersionModel | None:
    return session.scalar(select(ProcessVersionModel).join(
        ActiveVersionModel, ActiveVersionModel.version_id == ProcessVersionModel.id)
        .where(ActiveVersionModel.process_id == process_id))


def _active_files(session: Session, exclude: set[str]) -> dict[str, bytes]:
    """The active XML of every process, by file name, for resolving call activities (a caller embeds the
    version of the called process that new cases would run)."""
    rows = session.execute(select(ProcessVersionModel.file_name, ProcessVersionModel.xml).join(
        ActiveVersionModel, ActiveVersionModel.version_id == ProcessVersionModel.id))
    return {name: xml for name, xml in rows if name not in exclude}


def _make_active(session: Session, row: ProcessVersionModel, actor: Actor, action: str, note: str | None) -> None:
    now = runtime.of(session).clock.now()
    active = session.get(ActiveVersionModel, row.process_id)
    if active is None:
        session.add(ActiveVersionModel(process_id=row.process_id, version_id=row.id, activated_at=now,
                                       activated_by=actor.username))
    else:
        active.version_id, active.activated_at, active.activated_by = row.id, now, actor.username
    session.add(ProcessAuditModel(at=now, actor=actor.username, action=action, process_id=row.process_id,
                                  version=row.version, note=note))


NOTE_MAX = 2000


def _note(note: str | None) -> str | None:
    note = (note or "").strip() or None
    if note is not None and len(note) > NOTE_MAX:
        raise InvalidData(msg("process.note_too_long", max=NOTE_MAX), {"note": [msg("field.at_most", max=NOTE_MAX)]})
    return note


def active_version(session: Session, process_id: str) -> ProcessVersionModel:
    """The version new cases of a process start on. Raises NotFound."""
    row = _active(session, process_id)
    if row is None:
        raise _not_deployed(process_id)
    return row


def list_processes(session: Session) -> list[ProcessVersionModel]:
    """The active version of every deployed process (what new cases start on), by process id."""
    return list(session.scalars(select(ProcessVersionModel).join(
        ActiveVersionModel, ActiveVersionModel.version_id == ProcessVersionModel.id)
        .order_by(ProcessVersionModel.process_id)))


@dataclass
class VersionInfo:
    """One deployed version as the process page lists it."""

    version: int
    sha256: str
    name: str | None
    file_name: str
    deployed_at: object
    deployed_by: str | None
    note: str | None
    active: bool
    open_cases: int


@dataclass
class ProcessInfo:
    process_id: str
    name: str | None
    active_version: int
    newest_version: int
    versions: list[VersionInfo]


@dataclass
class AuditEntry:
    at: object
    actor: str | None
    action: str
    process_id: str
    version: int
    note: str | None


def _may_read_processes(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_auditor or actor.is_designer or actor.is_system):
        raise Forbidden(msg("process.read_forbidden"))


def process_overview(session: Session, actor: Actor, process_id: str | None = None) -> list[ProcessInfo]:
    """Every process (or one) with all its versions, newest first: who deployed each when with what note, which
    one new cases start on, and how many open cases run on each. Administrators, auditors and designers.

    Raises Forbidden; NotFound for an unknown process_id."""
    _may_read_processes(actor)
    query = select(ProcessVersionModel).order_by(ProcessVersionModel.process_id, ProcessVersionModel.version.desc())
    if process_id is not None:
        query = query.where(ProcessVersionModel.process_id == process_id)
    rows = list(session.scalars(query))
    if process_id is not None and not rows:
        raise _not_deployed(process_id)
    active = dict(session.execute(select(ActiveVersionModel.process_id, ActiveVersionModel.version_id)).all())
    # one grouped count over open cases (ix_cases_status_org leads with status): per version id
    open_cases = dict(session.execute(select(CaseModel.process_version_id, func.count()).where(
        CaseModel.status == "open").group_by(CaseModel.process_version_id)).all())
    out: dict[str, ProcessInfo] = {}
    for row in rows:
        info = out.get(row.process_id)
        if info is None:
            info = out[row.process_id] = ProcessInfo(row.process_id, row.name, 0, row.version, [])
        is_active = active.get(row.process_id) == row.id
        if is_active:
            info.active_version, info.name = row.version, row.name
        info.versions.append(VersionInfo(row.version, row.sha256, row.name, row.file_name, row.deployed_at,
                                         row.deployed_by, row.note, is_active, open_cases.get(row.id, 0)))
    return list(out.values())


def activate_version(session: Session, process_id: str, version: int, actor: Actor,
                     note: str | None = None) -> ProcessInfo:
    """Make `version` the one new cases of the process start on (a rollback to an earlier one, or forward
    again), recorded with the note. Running cases keep their version. Activating the active one changes
    nothing and records nothing. Administrators only. Commits.

    A process that others call is embedded in its callers when they are deployed: they keep the version they
    embed until they are deployed again (docs/designers.md).

    Raises Forbidden, NotFound (process or version), InvalidData (note too long)."""
    if not (actor.is_admin or actor.is_system):
        raise Forbidden(msg("process.activate_forbidden"))
    note = _note(note)
    row = _version_row(session, process_id, version)
    active = session.get(ActiveVersionModel, process_id)
    if active is None or active.version_id != row.id:
        _make_active(session, row, actor, "activated", note)
        session.commit()
        log.info("%s activated %s version %s", actor.username, process_id, version)
    return process_overview(session, actor, process_id)[0]


def process_audit(session: Session, actor: Actor, process_id: str | None = None, limit: int = 200) -> list[AuditEntry]:
    """What was deployed and activated when, by whom, with which note: newest first. Administrators, auditors
    and designers. Raises Forbidden."""
    _may_read_processes(actor)
    query = select(ProcessAuditModel).order_by(ProcessAuditModel.at.desc(), ProcessAuditModel.id.desc()).limit(limit)
    if process_id is not None:
        query = query.where(ProcessAuditModel.process_id == process_id)
    return [AuditEntry(r.at, r.actor, r.action, r.process_id, r.version, r.note) for r in session.scalars(query)]


def version_xml(session: Session, actor: Actor, process_id: str, version: int | None = None) -> tuple[int, bytes]:
    """The BPMN XML of a version (the active one by default) and its number, for the modeler. Administrators,
    auditors and designers. Raises Forbidden, NotFound."""
    _may_read_processes(actor)
    row = active_version(session, process_id) if version is None else _version_row(session, process_id, version)
    return row.version, row.xml


def _version_row(session: Session, process_id: str, version: int) -> ProcessVersionModel:
    """Version `version` of a process. Raises NotFound naming the process (not deployed) or the version."""
    row = session.scalar(select(ProcessVersionModel).where(ProcessVersionModel.process_id == process_id,
                                                           ProcessVersionModel.version == version))
    if row is None:
        if _active(session, process_id) is None:
            raise _not_deployed(process_id)
        raise NotFound(msg("process.no_such_version", process_id=process_id, version=version),
                       {"version": [msg("field.no_such_version", version=version)]})
    return row


# -- drafts: the modeler's unfinished work, on the server ----------------------------------------------------------

_TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "new_process.bpmn"
_PROCESS_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,199}\Z")  # an XML NCName, as a BPMN id must be
_PROCESS_TAG_ID = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?process\b[^>]*?\sid=[\"']([^\"']+)[\"']")
DRAFT_MAX_BYTES = 16 * 1024 * 1024  # as a deployed file (JIEFEN_MAX_UPLOAD_BYTES' default)


@dataclass
class DraftInfo:
    """A draft as the modeler and its lists see it (xml only when one draft is asked for)."""

    id: int
    process_id: str | None
    base_version: int | None
    author: str
    name: str | None
    updated_at: object
    target: str  # the process it deploys as: process_id, or the id in a new process's XML
    xml: str | None = None
    submitted_at: object = None  # handed over for deployment (administrators see it), with the author's note
    submit_note: str | None = None
    returned_at: object = None  # sent back by an administrator, with their note
    returned_by: str | None = None
    return_note: str | None = None


def _draft_info(row: ProcessDraftModel, with_xml: bool = False) -> DraftInfo:
    return DraftInfo(row.id, row.process_id, row.base_version, row.author, row.name, row.updated_at,
                     row.process_id or _xml_process_id(row.xml) or f"draft-{row.id}", row.xml if with_xml else None,
                     row.submitted_at, row.submit_note, row.returned_at, row.returned_by, row.return_note)


def _may_edit(actor: Actor) -> None:
    if not (actor.is_admin or actor.is_designer):
        raise Forbidden(msg("process.draft_forbidden"))


@dataclass(frozen=True)
class _DraftKind:
    """What differs between a process draft and a decision table draft in their hand-over (one code path for
    both: ownership, 提交审核, return, the administrators' list)."""

    model: type  # ProcessDraftModel | DecisionDraftModel
    label: str  # for the log
    info: Callable  # row -> DraftInfo | DecisionDraftInfo
    submitted: str  # the process_audit actions of a hand-over
    returned: str


_PROCESS_DRAFT = _DraftKind(ProcessDraftModel, "process draft", lambda row: _draft_info(row), "submitted", "returned")
_DECISION_DRAFT = _DraftKind(DecisionDraftModel, "decision draft", lambda row: _decision_draft_info(row),
                             "decision_submitted", "decision_returned")


def _draft_not_found(kind: _DraftKind, draft_id: int) -> NotFound:
    # message ids are literals (tests/unit/test_messages.py reads them)
    if kind is _PROCESS_DRAFT:
        return NotFound(msg("process.draft_not_found", draft_id=draft_id))
    return NotFound(msg("decision.draft_not_found", draft_id=draft_id))


def _owned(session: Session, kind: _DraftKind, draft_id: int, actor: Actor, submitted_to_admins: bool = False):
    """The draft, if the actor is its author — or, with `submitted_to_admins`, an administrator and the draft is
    submitted for deployment (they open, diff and deploy it; only its author edits it)."""
    _may_edit(actor)
    row = session.get(kind.model, draft_id)
    if row is None:
        raise _draft_not_found(kind, draft_id)
    if row.author != actor.username and not (submitted_to_admins and actor.is_admin and row.submitted_at is not None):
        if kind is _PROCESS_DRAFT:
            raise Forbidden(msg("process.draft_not_yours", draft_id=draft_id, author=row.author))
        raise Forbidden(msg("decision.draft_not_yours", draft_id=draft_id, author=row.author))
    return row


def _own_draft(session: Session, draft_id: int, actor: Actor, submitted_to_admins: bool = False) -> ProcessDraftModel:
    return _owned(session, _PROCESS_DRAFT, draft_id, actor, submitted_to_admins)


def _draft_xml(xml: str) -> str:
    if len(xml.encode("utf-8")) > DRAFT_MAX_BYTES:
        raise InvalidData(msg("process.draft_too_large", max=DRAFT_MAX_BYTES),
                          {"xml": [msg("process.draft_too_large", max=DRAFT_MAX_BYTES)]})
    return xml


def _draft_name(name: str | None) -> str | None:
    return (name or "").strip()[:300] or None


def template_xml(process_id: str, name: str) -> str:
    """The new-process template: a start event, 受理登记 (a user task with a registration form) in the
    窗口受理员 lane, 调解处理 in the 调解员 lane, an end event."""
    text = _TEMPLATE.read_text(encoding="utf-8")
    return text.replace("__PROCESS_ID__", process_id).replace('"__NAME__"', quoteattr(name)).replace(
        "__NAME__", escape(name))


def create_draft(session: Session, actor: Actor, *, process_id: str | None = None, version: int | None = None,
                 new_process_id: str | None = None, name: str | None = None) -> DraftInfo:
    """Start a draft: from a deployed version of `process_id` (its active one unless `version` is given), or,
    with `new_process_id`, a new process from the template. Administrators and process designers. Commits.

    Raises Forbidden, NotFound (process or version), InvalidData (a bad new process id), Conflict (the new
    process id is already deployed)."""
    _may_edit(actor)
    now = runtime.of(session).clock.now()
    if process_id is not None:
        number, xml = version_xml(session, actor, process_id, version)
        draft = ProcessDraftModel(process_id=process_id, base_version=number, author=actor.username,
                                  name=_draft_name(name) or _latest(session, process_id).name,
                                  xml=xml.decode("utf-8"), updated_at=now)
    else:
        new_id = (new_process_id or "").strip()
        if not _PROCESS_ID.match(new_id):
            raise InvalidData(msg("process.draft_bad_id"), {"process_id": [msg("process.draft_bad_id")]})
        if _latest(session, new_id) is not None:
            raise Conflict(msg("process.draft_exists", process_id=new_id), {"process_id": [
                msg("process.draft_exists", process_id=new_id)]})
        label = _draft_name(name) or new_id
        draft = ProcessDraftModel(process_id=None, base_version=None, author=actor.username, name=label,
                                  xml=template_xml(new_id, label), updated_at=now)
    session.add(draft)
    session.commit()
    log.info("%s started process draft %s (%s)", actor.username, draft.id, process_id or new_process_id)
    return _draft_info(draft, with_xml=True)


def save_draft(session: Session, draft_id: int, xml: str, actor: Actor, name: str | None = None) -> DraftInfo:
    """Replace a draft's XML (the modeler's autosave; nothing is checked but its size: a draft may be half
    drawn). Its author only. Commits.

    Raises Forbidden (not a designer or administrator, or not the author), NotFound, InvalidData (too large)."""
    row = _own_draft(session, draft_id, actor)
    row.xml = _draft_xml(xml)
    if name is not None and _draft_name(name):
        row.name = _draft_name(name)
    row.updated_at = runtime.of(session).clock.now()
    session.commit()
    return _draft_info(row)


def get_draft(session: Session, draft_id: int, actor: Actor) -> DraftInfo:
    """One draft with its XML. Its author; an administrator when it is submitted for deployment. Raises Forbidden,
    NotFound."""
    return _draft_info(_own_draft(session, draft_id, actor, submitted_to_admins=True), with_xml=True)


def list_drafts(session: Session, actor: Actor, process_id: str | None = None) -> list[DraftInfo]:
    """The caller's own drafts (of one process, or all), the most recently saved first. Raises Forbidden."""
    _may_edit(actor)
    query = (select(ProcessDraftModel).options(undefer(ProcessDraftModel.xml))
             .where(ProcessDraftModel.author == actor.username)
             .order_by(ProcessDraftModel.updated_at.desc(), ProcessDraftModel.id.desc()))
    if process_id is not None:
        query = query.where(ProcessDraftModel.process_id == process_id)
    return [_draft_info(r) for r in session.scalars(query)]


def draft_diff(session: Session, draft_id: int, actor: Actor) -> tuple[int | None, list[ElementChange]]:
    """What the draft changes in the version it was opened from, element by element (a new process: nothing to
    compare, None and an empty list). Its author; an administrator when it is submitted. Raises Forbidden,
    NotFound."""
    row = _own_draft(session, draft_id, actor, submitted_to_admins=True)
    if row.process_id is None or row.base_version is None:
        return None, []
    base = session.scalar(select(ProcessVersionModel).where(ProcessVersionModel.process_id == row.process_id,
                                                            ProcessVersionModel.version == row.base_version))
    return row.base_version, diff_definitions(base.xml, row.xml.encode("utf-8"))


def version_diff(session: Session, actor: Actor, process_id: str, old: int, new: int) -> list[ElementChange]:
    """What version `new` changes in version `old` of a process, element by element (either may be the older:
    the diff reads from `old` to `new`). Administrators, auditors and designers. Read-only.

    Raises Forbidden, NotFound (process or either version)."""
    _may_read_processes(actor)
    before, after = _version_row(session, process_id, old), _version_row(session, process_id, new)
    return diff_definitions(before.xml, after.xml)


def _submit(session: Session, kind: _DraftKind, draft_id: int, actor: Actor, note: str | None):
    row = _owned(session, kind, draft_id, actor)
    note = _note(note)
    now = runtime.of(session).clock.now()
    row.submitted_at, row.submit_note = now, note
    row.returned_at = row.returned_by = row.return_note = None
    session.add(ProcessAuditModel(at=now, actor=actor.username, action=kind.submitted,
                                  process_id=kind.info(row).target, version=row.base_version or 0,
                                  note=_hand_over_note(row, note)))
    session.commit()
    log.info("%s submitted %s %s", actor.username, kind.label, draft_id)
    return row


def _return(session: Session, kind: _DraftKind, draft_id: int, actor: Actor, note: str | None):
    if not actor.is_admin:
        raise Forbidden(msg("process.return_forbidden"))
    row = session.get(kind.model, draft_id)
    if row is None:
        raise _draft_not_found(kind, draft_id)
    if row.submitted_at is None:
        raise Conflict(msg("process.draft_not_submitted", draft_id=draft_id) if kind is _PROCESS_DRAFT
                       else msg("decision.draft_not_submitted", draft_id=draft_id))
    note = _note(note)
    now = runtime.of(session).clock.now()
    row.submitted_at = row.submit_note = None
    row.returned_at, row.returned_by, row.return_note = now, actor.username, note
    session.add(ProcessAuditModel(at=now, actor=actor.username, action=kind.returned,
                                  process_id=kind.info(row).target, version=row.base_version or 0,
                                  note=_hand_over_note(row, note)))
    session.commit()
    log.info("%s returned %s %s to %s", actor.username, kind.label, draft_id, row.author)
    return row


def _submitted(session: Session, kind: _DraftKind, actor: Actor) -> list:
    if not actor.is_admin:
        raise Forbidden(msg("process.return_forbidden"))
    query = (select(kind.model).options(undefer(kind.model.xml))
             .where(kind.model.submitted_at.is_not(None))
             .order_by(kind.model.submitted_at, kind.model.id))
    return list(session.scalars(query))


def submit_draft(session: Session, draft_id: int, actor: Actor, note: str | None = None) -> DraftInfo:
    """Hand a draft over for deployment (提交审核): administrators see it among the submitted drafts and may open,
    deploy or return it; it stays its author's to edit (what an administrator deploys is the draft as saved then).
    Its author only; recorded (process_audit "submitted"). Commits.

    Raises Forbidden, NotFound, InvalidData (note too long)."""
    return _draft_info(_submit(session, _PROCESS_DRAFT, draft_id, actor, note))


def return_draft(session: Session, draft_id: int, actor: Actor, note: str | None = None) -> DraftInfo:
    """Send a submitted draft back to its author with a note (what to change); it is theirs alone again.
    Administrators only; recorded (process_audit "returned"). Commits.

    Raises Forbidden, NotFound, Conflict (not submitted), InvalidData (note too long)."""
    return _draft_info(_return(session, _PROCESS_DRAFT, draft_id, actor, note))


def _hand_over_note(row: ProcessDraftModel | DecisionDraftModel, note: str | None) -> str:
    # stored text, read by people of either language (like the deploy notes of a redeployed caller)
    what = f"草稿「{row.name or row.id}」（{row.author}） / draft {row.id} by {row.author}"
    return f"{what}: {note}"[:NOTE_MAX] if note else what


def submitted_drafts(session: Session, actor: Actor, process_id: str | None = None) -> list[DraftInfo]:
    """The drafts submitted for deployment (of one process, or all), the earliest submitted first.
    Administrators only. Raises Forbidden."""
    rows = [_draft_info(r) for r in _submitted(session, _PROCESS_DRAFT, actor)]
    return [d for d in rows if process_id is None or d.target == process_id]


def discard_draft(session: Session, draft_id: int, actor: Actor) -> None:
    """Delete a draft. Its author only. Commits. Raises Forbidden, NotFound."""
    session.delete(_own_draft(session, draft_id, actor))
    session.commit()


def _xml_process_id(xml: str) -> str | None:
    found = _PROCESS_TAG_ID.search(xml.encode("utf-8"))
    return found.group(1).decode() if found else None


def _draft_file_name(session: Session, row: ProcessDraftModel) -> str:
    """The file name a draft deploys under: the process's own (deploy excludes the other active files by name,
    so a name must not be another process's), or `<process id>.bpmn` for a new one."""
    process_id = row.process_id or _xml_process_id(row.xml)
    latest = _latest(session, process_id) if process_id else None
    if latest is not None:
        return latest.file_name
    if process_id and _PROCESS_ID.match(process_id):
        return f"{process_id}.bpmn"
    return f"draft-{row.id}.bpmn"


def deploy_draft(session: Session, draft_id: int, actor: Actor, note: str | None = None) -> list[DeployResult]:
    """Deploy a draft as deploy() does (a new active version with the change note; identical content a no-op)
    and remove the draft, in one transaction. Its author, an administrator. A draft deploy would refuse stays
    as it is. Commits.

    A submitted draft (submit_draft) is deployed by an administrator who is not its author.

    Raises Forbidden, NotFound, InvalidData (note), ProcessDefinitionError (every problem found)."""
    row = _own_draft(session, draft_id, actor, submitted_to_admins=True)
    name = _draft_file_name(session, row)
    results = _deploy(session, {name: row.xml.encode("utf-8")}, actor, note)
    session.delete(row)
    session.commit()
    log.info("%s deployed process draft %s", actor.username, draft_id)
    return results


# -- decision table drafts (as process drafts: the table editor's autosave, per author, deployed with a note) --------

_DECISION_TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "new_decision.dmn"
_DECISION_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}\Z")  # as camunda:decisionRef names it (dmn.py)
_DECISION_TAG_ID = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?decision\b[^>]*?\sid=[\"']([^\"']+)[\"']")


@dataclass
class DecisionDraftInfo:
    """A decision table draft as the editor and its lists see it (xml only when one draft is asked for)."""

    id: int
    decision_id: str | None
    base_version: int | None
    author: str
    name: str | None
    updated_at: object
    target: str  # the decision it deploys as: decision_id, or the id in a new table's XML
    xml: str | None = None
    submitted_at: object = None  # handed over for deployment (administrators see it), with the author's note
    submit_note: str | None = None
    returned_at: object = None  # sent back by an administrator, with their note
    returned_by: str | None = None
    return_note: str | None = None


def _decision_draft_info(row: DecisionDraftModel, with_xml: bool = False) -> DecisionDraftInfo:
    found = _DECISION_TAG_ID.search(row.xml.encode("utf-8")) if row.decision_id is None else None
    target = row.decision_id or (found.group(1).decode() if found else f"decision-draft-{row.id}")
    return DecisionDraftInfo(row.id, row.decision_id, row.base_version, row.author, row.name, row.updated_at, target,
                             row.xml if with_xml else None, row.submitted_at, row.submit_note, row.returned_at,
                             row.returned_by, row.return_note)


def _own_decision_draft(session: Session, draft_id: int, actor: Actor,
                        submitted_to_admins: bool = False) -> DecisionDraftModel:
    return _owned(session, _DECISION_DRAFT, draft_id, actor, submitted_to_admins)


def decision_template_xml(decision_id: str, name: str) -> str:
    """The new-table template: hit policy FIRST, one input (纠纷类型: category), one output (建议: suggestion), a
    rule for labour disputes and a last catch-all rule."""
    text = _DECISION_TEMPLATE.read_text(encoding="utf-8")
    return text.replace("__DECISION_ID__", decision_id).replace('"__NAME__"', quoteattr(name)).replace(
        "__NAME__", escape(name))


def create_decision_draft(session: Session, actor: Actor, *, decision_id: str | None = None,
                          version: int | None = None, new_decision_id: str | None = None,
                          name: str | None = None) -> DecisionDraftInfo:
    """Start a decision table draft: from a deployed version of `decision_id` (its newest unless `version` is
    given), or, with `new_decision_id`, a new table from the template. Administrators and process designers.
    Commits.

    Raises Forbidden, NotFound (decision or version), InvalidData (a bad new decision id), Conflict (the new
    decision id is already deployed)."""
    _may_edit(actor)
    now = runtime.of(session).clock.now()
    if decision_id is not None:
        number, xml = decision_xml(session, actor, decision_id, version)
        draft = DecisionDraftModel(decision_id=decision_id, base_version=number, author=actor.username,
                                   name=_draft_name(name) or _latest_decision(session, decision_id).name,
                                   xml=xml.decode("utf-8"), updated_at=now)
    else:
        new_id = (new_decision_id or "").strip()
        if not _DECISION_ID.match(new_id):
            raise InvalidData(msg("decision.draft_bad_id"), {"decision_id": [msg("decision.draft_bad_id")]})
        if _latest_decision(session, new_id) is not None:
            raise Conflict(msg("decision.draft_exists", decision_id=new_id), {"decision_id": [
                msg("decision.draft_exists", decision_id=new_id)]})
        label = _draft_name(name) or new_id
        draft = DecisionDraftModel(decision_id=None, base_version=None, author=actor.username, name=label,
                                   xml=decision_template_xml(new_id, label), updated_at=now)
    session.add(draft)
    session.commit()
    log.info("%s started decision draft %s (%s)", actor.username, draft.id, decision_id or new_decision_id)
    return _decision_draft_info(draft, with_xml=True)


def save_decision_draft(session: Session, draft_id: int, xml: str, actor: Actor) -> DecisionDraftInfo:
    """Replace a decision draft's XML (the editor's autosave; nothing is checked but its size). Its author only.
    Commits. Raises Forbidden, NotFound, InvalidData (too large)."""
    row = _own_decision_draft(session, draft_id, actor)
    row.xml = _draft_xml(xml)
    row.updated_at = runtime.of(session).clock.now()
    session.commit()
    return _decision_draft_info(row)


def get_decision_draft(session: Session, draft_id: int, actor: Actor) -> DecisionDraftInfo:
    """One decision draft with its XML. Its author; an administrator when it is submitted for deployment.
    Raises Forbidden, NotFound."""
    return _decision_draft_info(_own_decision_draft(session, draft_id, actor, submitted_to_admins=True),
                                with_xml=True)


def list_decision_drafts(session: Session, actor: Actor, decision_id: str | None = None) -> list[DecisionDraftInfo]:
    """The caller's own decision drafts (of one decision, or all), the most recently saved first.
    Raises Forbidden."""
    _may_edit(actor)
    query = (select(DecisionDraftModel).options(undefer(DecisionDraftModel.xml))
             .where(DecisionDraftModel.author == actor.username)
             .order_by(DecisionDraftModel.updated_at.desc(), DecisionDraftModel.id.desc()))
    rows = [_decision_draft_info(r) for r in session.scalars(query)]
    return [d for d in rows if decision_id is None or d.target == decision_id]


def discard_decision_draft(session: Session, draft_id: int, actor: Actor) -> None:
    """Delete a decision draft. Its author only. Commits. Raises Forbidden, NotFound."""
    session.delete(_own_decision_draft(session, draft_id, actor))
    session.commit()


def submit_decision_draft(session: Session, draft_id: int, actor: Actor,
                          note: str | None = None) -> DecisionDraftInfo:
    """Hand a decision table draft over for deployment (提交审核), as submit_draft does a process draft:
    administrators see it, open it read-only, deploy it as saved or return it. Its author only; recorded
    (process_audit "decision_submitted"). Commits. Raises Forbidden, NotFound, InvalidData (note too long)."""
    return _decision_draft_info(_submit(session, _DECISION_DRAFT, draft_id, actor, note))


def return_decision_draft(session: Session, draft_id: int, actor: Actor,
                          note: str | None = None) -> DecisionDraftInfo:
    """Send a submitted decision table draft back to its author with a note. Administrators only; recorded
    (process_audit "decision_returned"). Commits.
    Raises Forbidden, NotFound, Conflict (not submitted), InvalidData (note too long)."""
    return _decision_draft_info(_return(session, _DECISION_DRAFT, draft_id, actor, note))


def submitted_decision_drafts(session: Session, actor: Actor,
                              decision_id: str | None = None) -> list[DecisionDraftInfo]:
    """The decision table drafts submitted for deployment (of one table, or all), the earliest submitted first.
    Administrators only. Raises Forbidden."""
    rows = [_decision_draft_info(r) for r in _submitted(session, _DECISION_DRAFT, actor)]
    return [d for d in rows if decision_id is None or d.target == decision_id]


def decision_draft_diff(session: Session, draft_id: int, actor: Actor) -> tuple[int | None, list[TableChange]]:
    """What the draft changes in the version it was opened from: columns and rules added, removed, moved and
    changed cell by cell (a new table: None and an empty list). Its author; an administrator when it is
    submitted. Raises Forbidden, NotFound."""
    row = _own_decision_draft(session, draft_id, actor, submitted_to_admins=True)
    if row.decision_id is None or row.base_version is None:
        return None, []
    base = session.scalar(select(DecisionVersionModel).where(DecisionVersionModel.decision_id == row.decision_id,
                                                             DecisionVersionModel.version == row.base_version))
    return row.base_version, diff_decisions(base.xml, row.xml.encode("utf-8"))


def decision_version_diff(session: Session, actor: Actor, decision_id: str, old: int, new: int) -> list[TableChange]:
    """What version `new` of a decision table changes in version `old` (either may be the older). Administrators,
    auditors and designers. Read-only. Raises Forbidden, NotFound (decision or either version)."""
    _number, before = decision_xml(session, actor, decision_id, old)
    _number, after = decision_xml(session, actor, decision_id, new)
    return diff_decisions(before, after)


def deploy_decision_draft(session: Session, draft_id: int, actor: Actor,
                          note: str | None = None) -> list[DeployResult]:
    """Deploy a decision draft as deploy() does (the next version of the table with the change note, a new
    version of every process using it; identical content a no-op) and remove the draft, in one transaction.
    Administrators: their own draft, or one submitted for deployment (submit_decision_draft). A draft deploy
    would refuse stays as it is. Commits.

    Raises Forbidden, NotFound, InvalidData (note), ProcessDefinitionError (every refused cell)."""
    row = _own_decision_draft(session, draft_id, actor, submitted_to_admins=True)
    latest = _latest_decision(session, row.decision_id) if row.decision_id else None
    name = latest.file_name if latest is not None else f"{_decision_draft_info(row).target}.dmn"
    results = _deploy(session, {name: row.xml.encode("utf-8")}, actor, note)
    session.delete(row)
    session.commit()
    log.info("%s deployed decision draft %s", actor.username, draft_id)
    return results


def read_directory(path: str | Path) -> dict[str, bytes]:
    """The BPMN and DMN files of a folder, by file name."""
    files = specs.load_directory(path)
    for item in sorted(Path(path).iterdir()):
        if item.is_file() and dmn.is_dmn_name(item.name):
            files[item.name] = item.read_bytes()
    return files
