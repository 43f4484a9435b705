"""Case history: the append-only event list, and verify (hash chain + replay from recorded commands)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import access, casework, chain, deadlines, expiry, runtime
from engine.actors import Actor
from engine.clock import running_at
from engine.errors import CaseError
from engine.messages import msg
from engine.models import CaseEventModel, CaseModel
from engine.versions import load_version

log = logging.getLogger(__name__)


@dataclass
class Verification:
    chain_ok: bool
    replay_ok: bool
    events: int
    problems: list[str] = field(default_factory=list)


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
    """Recompute the hash chain and replay the recorded commands on the case's process version.

    Read-only (no commit). Raises NotFound, Forbidden."""
    case = access.readable_case(session, actor, case_id, "verify")
    events = list_events(session, case_id, actor, "verify")
    result = Verification(chain_ok=True, replay_ok=False, events=len(events))
    prev = chain.GENESIS
    for expected_seq, event in enumerate(events, start=1):
        if event.seq != expected_seq:
            result.chain_ok = False
            result.problems.append(f"event {event.seq}: sequence gap (expected {expected_seq})")
        if event.prev_hash != prev or chain.event_hash_of(event) != event.hash:
            result.chain_ok = False
            result.problems.append(f"event {event.seq} ({event.type}): hash does not match its content or chain")
        prev = event.hash
    last_seq = events[-1].seq if events else 0
    if (case.event_seq, case.event_hash) != (last_seq, prev):
        result.chain_ok = False
        result.problems.append(f"the history ends at event {last_seq}, but the case records event {case.event_seq} "
                               "as its last (events removed or added outside jiefen)")

    version = load_version(session, case.process_version_id)
    workflow = None
    try:
        for event in events:
            command = (event.payload or {}).get("command")
            if command is None:
                continue
            with running_at(event.at):
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
    return result


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
