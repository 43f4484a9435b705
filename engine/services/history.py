"""Case history: the append-only event list, and verify (hash chain + replay from recorded commands)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import access, casework, chain, deadlines, expiry, file_store, migration, runtime
from engine.actors import Actor
from engine.clock import running_at
from engine.errors import CaseError, Forbidden, NotFound
from engine.messages import msg
from engine.models import AttachmentModel, CaseEventModel, CaseModel, DocumentModel, ProcessVersionModel
from engine.versions import load_version

log = logging.getLogger(__name__)


@dataclass
class Verification:
    chain_ok: bool
    replay_ok: bool
    events: int
    problems: list[str] = field(default_factory=list)
    # The first event of the history that does not hold (a gap, a changed row, a broken link): None when intact;
    # its kind (missing | changed | mislinked | tail) and what it should be and is, for people to read.
    first_broken_seq: int | None = None
    first_broken_kind: str | None = None
    first_broken_detail: dict = field(default_factory=dict)
    # Every attached file is in the file store and hashes to the SHA-256 its attachment_added event records.
    files_ok: bool = True
    broken_files: list[str] = field(default_factory=list)  # the names of the attachments that do not hold


@dataclass
class ReplayStep:
    """The case as it stood just after one event of its history, as the replay rebuilt it."""

    seq: int
    completed: list[str]  # BPMN element ids done by then
    active: list[str]  # BPMN element ids waiting (user tasks, timers) then
    data: dict  # the case data then
    version_id: int | None = None  # the process version the case ran on then (another before a case_migrated)


@dataclass
class AuditReplay:
    verification: Verification
    steps: list[ReplayStep]


def list_events(session: Session, case_id: int, actor: Actor, what: str = "events") -> list[CaseEventModel]:
    """The case's history in order (a read-all read recorded as `what`). Raises NotFound, Forbidden."""
    access.readable_case(session, actor, case_id, what)
    return list(session.scalars(select(CaseEventModel).where(CaseEventModel.case_id == case_id)
                                .order_by(CaseEventModel.seq)))


def entered_fields(session: Session, case_id: int) -> set[str]:
    """The case data keys someone entered: the data of the case's start and of every completed task's form.

    Values only a script set (a process's initial defaults such as 同意延长=否 or 鉴定期间=0 before anyone was
    asked) are not facts about the case; the case summary leaves them out. The caller has already read the case
    (no access check, no access-log entry of its own)."""
    keys: set[str] = set()
    for payload in session.scalars(select(CaseEventModel.payload).where(
            CaseEventModel.case_id == case_id, CaseEventModel.type.in_(("case_started", "task_completed")))):
        data = ((payload or {}).get("command") or {}).get("data")
        if isinstance(data, dict):
            keys.update(data)
    return keys


def verify_case(session: Session, case_id: int, actor: Actor) -> Verification:
    """Recompute the hash chain, check every attached file against its recorded hash, and replay the recorded
    commands on the case's process version.

    Read-only (no commit). Raises NotFound, Forbidden."""
    return _verify(session, case_id, actor, "verify").verification


def audit_replay(session: Session, case_id: int, actor: Actor) -> AuditReplay:
    """Verify the case (chain and replay) and keep, for every event of its history, what the replay rebuilt
    just after it: the elements completed and waiting, and the data — for the auditor's step-by-step replay.
    Auditors and administrators only (a read recorded as "audit"). Read-only. Raises NotFound, Forbidden."""
    if not (actor.is_auditor or actor.is_admin or actor.is_system):
        raise Forbidden(msg("audit.forbidden"))
    return _verify(session, case_id, actor, "audit", keep_steps=True)


@dataclass
class Dossier:
    """The whole case file, to hand over (卷宗): the case, its full history, its verification (chain, replay,
    stored files), the documents issued and the files attached."""

    case: CaseModel
    events: list[CaseEventModel]
    verification: Verification
    documents: list[DocumentModel]
    attachments: list[AttachmentModel]


def case_dossier(session: Session, case_id: int, actor: Actor) -> Dossier:
    """Everything the dossier of a case shows, verified now. Whoever may read the case may export it; every
    export is recorded in access_log as "dossier" (查阅留痕), whoever makes it. Read-only (the record is written
    in its own transaction). Raises NotFound, Forbidden."""
    case = access.readable_case(session, actor, case_id, None)
    access.record_read(session, actor, case, "dossier")
    verification = _verify(session, case_id, actor, "dossier").verification
    return Dossier(case, list_events(session, case_id, actor, None), verification,
                   list(session.scalars(select(DocumentModel).where(DocumentModel.case_id == case_id)
                                        .order_by(DocumentModel.id))),
                   list(session.scalars(select(AttachmentModel).where(AttachmentModel.case_id == case_id)
                                        .order_by(AttachmentModel.id))))


def _short(value: str | None) -> str:
    return (value or "—")[:12]


def _verify(session: Session, case_id: int, actor: Actor, what: str, keep_steps: bool = False) -> AuditReplay:
    case = access.readable_case(session, actor, case_id, what)
    events = list_events(session, case_id, actor, what)
    result = Verification(chain_ok=True, replay_ok=False, events=len(events))

    def broken(seq: int, problem: str, kind: str, **detail) -> None:
        result.chain_ok = False
        result.problems.append(problem)
        if result.first_broken_seq is None:
            result.first_broken_seq, result.first_broken_kind, result.first_broken_detail = seq, kind, detail

    prev = chain.GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            broken(expected_seq, f"event {expected_seq}: missing (the history goes on at event {event.seq})",
                   "missing", next_seq=event.seq)
        own = chain.event_hash_of(event)
        if event.prev_hash != prev:
            broken(event.seq, f"event {event.seq} ({event.type}): links to {_short(event.prev_hash)}…, but the event "
                              f"before it hashes to {_short(prev)}…", "mislinked", expected=prev, actual=event.prev_hash)
        elif own != event.hash:
            broken(event.seq, f"event {event.seq} ({event.type}): its content hashes to {_short(own)}…, but it "
                              f"records {_short(event.hash)}… (the row was changed)", "changed", expected=own,
                   actual=event.hash)
        prev = event.hash
    last_seq = events[-1].seq if events else 0
    if (case.event_seq, case.event_hash) != (last_seq, prev):
        broken(last_seq + 1 if case.event_seq > last_seq else max(case.event_seq, 1),
               f"the history ends at event {last_seq}, but the case records event {case.event_seq} as its last "
               "(events removed or added outside jiefen)", "tail", history_ends=last_seq, case_records=case.event_seq)

    for row, _kind, problem in file_store.check_case_files(session, case_id):
        result.files_ok = False
        result.broken_files.append(row.name)
        result.problems.append(problem)

    steps: list[ReplayStep] = []
    workflow = None
    try:
        # the version the case started on (a migrated case runs on another now: case_migrated moves the replay)
        started = next(((e.payload or {}).get("command") or {} for e in events if e.type == "case_started"), {})
        version = load_version(session, started.get("process_version_id") or case.process_version_id)
        for event in events:
            command = (event.payload or {}).get("command")
            if command is not None and event.type == "case_migrated":
                with running_at(event.at):
                    workflow, version = _migrate(workflow, version, session, command)
            elif command is not None:
                with running_at(event.at):
                    workflow = _apply(workflow, version, session, event, command)
            if keep_steps:
                steps.append(_snapshot(event.seq, workflow, steps[-1] if steps else None, command is not None))
                steps[-1].version_id = version.id
        _version, stored = casework.restore(session, case)
        if workflow is None:
            result.problems.append("no case_started command recorded")
        elif casework.fingerprint(workflow) != casework.fingerprint(stored):
            result.problems.append("the replayed workflow differs from the stored one")
        else:
            result.replay_ok = True
    except Exception as exc:  # a replay failure is a finding to report, not a crash of the verifier
        log.warning("replay of case %s failed: %s", case_id, exc)
        result.problems.append(f"replay failed: {exc}")
    return AuditReplay(result, steps)


def _apply(workflow, version, session: Session, event: CaseEventModel, command: dict):
    """One recorded command replayed on the workflow (a new one for case_started). Raises CaseError."""
    if event.type == "case_started":
        workflow = casework.new_workflow(version, runtime.of(session))
        workflow.data.update(command["data"])
        workflow.task_tree.data.update(command["data"])
        casework.run_engine(workflow)
    elif event.type == "task_completed":
        task = casework.task_by_ordinal(workflow, command["spec_name"], command["ordinal"])
        if task is None:
            raise CaseError(msg("history.replay_not_ready", seq=event.seq, spec_name=command["spec_name"]))
        task.data.update(command["data"])
        task.run()
        casework.run_engine(workflow)
    elif event.type == "timer_fired":
        casework.run_engine(workflow, refresh_timers=True)
    elif event.type == "deadlines_recomputed":
        deadlines.replay(workflow, command)
    elif event.type in ("expiry_held", "expiry_confirmed"):
        expiry.replay(workflow, command)
    return workflow


def _migrate(workflow, version, session: Session, command: dict):
    """A recorded case_migrated command replayed: the workflow moved to the version it names, as the command
    moved it (engine/migration.py). Returns (workflow, the new version)."""
    new = load_version(session, command["to_version_id"])
    if workflow is None or version.id != command["from_version_id"]:
        raise CaseError(msg("history.replay_wrong_version", version=version.version,
                            expected=command.get("from_version")))
    workflow = migration.migrate(workflow, version, new, command.get("task_mapping") or {},
                                 runtime.of(session).script_engine)
    casework.run_engine(workflow)
    return workflow, new


def _snapshot(seq: int, workflow, last: ReplayStep | None, changed: bool) -> ReplayStep:
    """What the replayed workflow shows after event `seq` (the previous step's view when nothing ran)."""
    from SpiffWorkflow.util.task import TaskState

    if workflow is None or (not changed and last is not None):
        return ReplayStep(seq, last.completed if last else [], last.active if last else [],
                          last.data if last else {})
    done: list[str] = []
    waiting: list[str] = []
    tasks = list(workflow.get_tasks())
    for sub in workflow.subprocesses.values():
        tasks.extend(sub.get_tasks())
    for task in tasks:
        element = getattr(task.task_spec, "bpmn_id", None)
        if not element:
            continue
        if task.state == TaskState.COMPLETED and element not in done:
            done.append(element)
        elif task.state in (TaskState.READY, TaskState.WAITING, TaskState.STARTED) and element not in waiting:
            waiting.append(element)
    return ReplayStep(seq, done, waiting, casework.case_data(workflow))  # a fresh copy, as a save computes it


def case_versions(session: Session, case_id: int) -> list[int]:
    """The ids of the process versions the case ran on, oldest first: the one it started on, and each one a
    case_migrated event moved it to (the case's current version last). The caller has read the case."""
    ids: list[int] = []
    for kind, payload in session.execute(select(CaseEventModel.type, CaseEventModel.payload).where(
            CaseEventModel.case_id == case_id, CaseEventModel.type.in_(("case_started", "case_migrated")))
            .order_by(CaseEventModel.seq)):
        command = (payload or {}).get("command") or {}
        for key in ("process_version_id", "from_version_id", "to_version_id"):
            if isinstance(command.get(key), int) and command[key] not in ids:
                ids.append(command[key])
    case = session.get(CaseModel, case_id)
    if case is not None and case.process_version_id not in ids:
        ids.append(case.process_version_id)
    return ids


def case_diagram(session: Session, case_id: int, actor: Actor, version_id: int | None = None,
                 called: str | None = None) -> ProcessVersionModel:
    """The process version whose diagram to draw for the case: the one it runs on, or (version_id) one its
    history ran on before a migration; with `called`, the process a call activity of that version calls, as
    that version embeds it (drill-down). A read recorded as "diagram". Raises NotFound (a version the case never
    ran on, a process that version does not call), Forbidden."""
    case = access.readable_case(session, actor, case_id, "diagram")
    if version_id is None:
        version_id = case.process_version_id
    elif version_id not in case_versions(session, case_id):
        raise NotFound(msg("audit.version_not_of_case", version_id=version_id))
    row = session.get(ProcessVersionModel, version_id)
    if called is None:
        return row
    sha = (row.meta.get("called_versions") or {}).get(called)
    target = session.scalar(select(ProcessVersionModel).where(ProcessVersionModel.process_id == called,
                                                              ProcessVersionModel.sha256 == sha)
                            .order_by(ProcessVersionModel.version.desc()).limit(1)) if sha else None
    if target is None:
        raise NotFound(msg("audit.not_called", process_id=called))
    return target


def completed_elements(session: Session, case_id: int, actor: Actor, what: str = "diagram") -> list[str]:
    """BPMN element ids of the case's completed tasks (events, gateways and activities), from the stored
    workflow, for drawing the case's progress on its diagram. Read-only. Raises NotFound, Forbidden."""
    from SpiffWorkflow.util.task import TaskState

    case = access.readable_case(session, actor, case_id, what)
    if not case.workflow_json or case.workflow_json == "{}":
        return []
    _version, workflow = casework.restore(session, case)
    ids: list[str] = []
    tasks = list(workflow.get_tasks(state=TaskState.COMPLETED))
    for sub in workflow.subprocesses.values():
        tasks.extend(sub.get_tasks(state=TaskState.COMPLETED))
    for task in tasks:
        element = getattr(task.task_spec, "bpmn_id", None)
        if element and element not in ids:
            ids.append(element)
    return ids


@dataclass
class CaseLinks:
    """Cases this case is linked to (e.g. the case a relapse reopens) and cases linking to it."""

    linked_to: CaseModel | None
    link_kind: str | None
    linked_from: list[CaseModel]


def case_links(session: Session, case_id: int, actor: Actor, what: str = "case") -> CaseLinks:
    """Linked cases in both directions (codes and status only are meant for display), only those the actor may
    read themselves (need to know: a linked petition is not named to a reader of the dispute). Read-only.

    Raises NotFound, Forbidden."""
    case = access.readable_case(session, actor, case_id, what)
    linked_to = session.get(CaseModel, case.linked_case_id) if case.linked_case_id else None
    linked_from = list(session.scalars(select(CaseModel).where(CaseModel.linked_case_id == case.id)
                                       .order_by(CaseModel.opened_at, CaseModel.id)))
    readable = [other for other in ([linked_to] if linked_to else []) + linked_from
                if access.decide(session, actor, other).allowed]
    return CaseLinks(linked_to if linked_to in readable else None, case.link_kind,
                     [other for other in linked_from if other in readable])
