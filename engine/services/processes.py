"""Deployments: versioned BPMN per process id, and the parsed-spec cache behind every case."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from engine import routing, runtime, specs
from engine.actors import Actor
from engine.directory import ensure_roles
from engine.errors import Forbidden, ProcessDefinitionError, Problem
from engine.messages import msg
from engine.models import OrgUnitModel, ProcessVersionModel
from engine.versions import (LoadedVersion, _not_deployed, latest_loaded_version, load_version,  # noqa: F401
                             version_number)  # public here too

log = logging.getLogger(__name__)


@dataclass
class DeployResult:
    process_id: str
    version: int
    sha256: str
    name: str | None
    created: bool


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


def deploy(session: Session, files: dict[str, bytes], actor: Actor) -> list[DeployResult]:
    """Deploy BPMN files: identical content is a no-op, changed content becomes version n+1. Commits.

    Raises Forbidden (not an administrator) or ProcessDefinitionError (every problem found)."""
    if not (actor.is_admin or actor.is_system):
        raise Forbidden(msg("process.deploy_forbidden"))
    available = _latest_files(session, exclude=set(files))
    definitions = specs.parse_files(files, available, runtime.of(session).script_limits)
    _check_named_units(session, definitions)
    results = _store_versions(session, definitions, actor)
    # A caller embeds the called processes' specs: when one of them changed, the callers get a new version
    # too, so new cases run the new called process (running cases keep the version they started on).
    changed = {r.process_id for r in results if r.created}
    callers = [row for row in list_processes(session)
               if row.process_id not in {d.process_id for d in definitions}
               and changed & set(row.meta.get("called_processes") or [])]
    if callers:
        caller_files = {row.file_name: row.xml for row in callers}
        redeployed = specs.parse_files(caller_files, _latest_files(session, exclude=set(caller_files)),
                                       runtime.of(session).script_limits)
        wanted = {row.process_id for row in callers}
        results += _store_versions(session, [d for d in redeployed if d.process_id in wanted], actor)
    session.commit()
    return results


def _called_versions(session: Session, defn: specs.ProcessDefinition) -> dict[str, str]:
    out = {}
    for pid in defn.called_processes:
        latest = _latest(session, pid)
        if latest is not None:
            out[pid] = latest.sha256
    return out


def _store_versions(session: Session, definitions: list[specs.ProcessDefinition], actor: Actor) -> list[DeployResult]:
    """Store each definition as version n+1 unless its XML and its called processes are unchanged. Flushes."""
    rt = runtime.of(session)
    results = []
    for defn in definitions:
        latest = _latest(session, defn.process_id)
        called = _called_versions(session, defn)
        if latest is not None and latest.sha256 == defn.sha256 and latest.meta.get("called_versions", {}) == called:
            results.append(DeployResult(defn.process_id, latest.version, latest.sha256, latest.name, False))
            continue
        row = ProcessVersionModel(
            process_id=defn.process_id, version=(latest.version + 1) if latest else 1, name=defn.name,
            file_name=defn.file_name, sha256=defn.sha256, xml=defn.xml, spec_json=specs.serialize_spec(defn),
            meta=_meta(defn, called), deployed_at=rt.clock.now(), deployed_by=actor.username)
        session.add(row)
        session.flush()
        ensure_roles(session, specs.roles_named(defn, rt.settings.lane_roles))
        results.append(DeployResult(defn.process_id, row.version, row.sha256, row.name, True))
        log.info("deployed %s version %s (%s)", row.process_id, row.version, row.sha256[:12])
    return results


_LATEST = (select(ProcessVersionModel).where(ProcessVersionModel.process_id == bindparam("process_id"))
           .order_by(ProcessVersionModel.version.desc()).limit(1))  # built once: every case opening asks


def _latest(session: Session, process_id: str) -> ProcessVersionModel | None:
    return session.scalar(_LATEST, {"process_id": process_id})


def _latest_files(session: Session, exclude: set[str]) -> dict[str, bytes]:
    """The newest deployed XML of every process, by file name, for resolving call activities."""
    newest = (select(ProcessVersionModel.process_id, func.max(ProcessVersionModel.version).label("v"))
              .group_by(ProcessVersionModel.process_id).subquery())
    rows = session.execute(select(ProcessVersionModel.file_name, ProcessVersionModel.xml).join(
        newest, (ProcessVersionModel.process_id == newest.c.process_id) & (ProcessVersionModel.version == newest.c.v)))
    return {name: xml for name, xml in rows if name not in exclude}


def latest_version(session: Session, process_id: str) -> ProcessVersionModel:
    """The newest version of a process. Raises NotFound."""
    row = _latest(session, process_id)
    if row is None:
        raise _not_deployed(process_id)
    return row


def list_processes(session: Session) -> list[ProcessVersionModel]:
    """The newest version of every deployed process."""
    newest = (select(ProcessVersionModel.process_id, func.max(ProcessVersionModel.version).label("v"))
              .group_by(ProcessVersionModel.process_id).subquery())
    return list(session.scalars(select(ProcessVersionModel).join(
        newest, (ProcessVersionModel.process_id == newest.c.process_id) & (ProcessVersionModel.version == newest.c.v))
        .order_by(ProcessVersionModel.process_id)))


def read_directory(path: str | Path) -> dict[str, bytes]:
    return specs.load_directory(path)
