"""Moving a running case's workflow from one process version's spec to another's (issue 19 §4): what would
happen to each of its open steps, what makes a move unsafe, and the move itself — below the services (the
command is services/migration.migrate_cases; history.verify_case replays the `case_migrated` event with
`replay`).

SpiffWorkflow's own `migrate_workflow` (SpiffWorkflow.bpmn.util.diff) resets every READY and WAITING task
and predicts it again: a waiting timer is armed anew from "now" and every open task gets a new id (a new
task row, a new due date). A migration must not move a deadline, so this module keeps the workflow's
definite tasks — the open user tasks, the waiting timers, everything done — as they are (same ids, same
data, same timer moments), points each at its counterpart in the new spec (SpiffWorkflow's SpecDiff
alignment by element id, then the administrator's mapping), and predicts again only the branches that have
not started. Where that cannot be done safely the case is refused with the reason, never guessed.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import LoopTask
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.bpmn.util.diff import SpecDiff
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState

from engine import serializer
from engine.messages import Message, msg
from engine.versions import LoadedVersion

# The task specs SpiffWorkflow derives from an activity with boundary events: mapped with their activity.
_DERIVED = (".BoundaryEventSplit", ".BoundaryEventJoin")
_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
_PREDICTED = TaskState.PREDICTED_MASK | TaskState.FUTURE


@dataclass
class StepMove:
    """One open step of a case and where it goes: a user task (kind "task") or a waiting timer ("timer")."""

    task_id: str
    kind: str
    from_id: str
    from_name: str
    to_id: str | None
    to_name: str | None


@dataclass
class Plan:
    """What migrating one case would do: its open steps and their counterparts, the reasons it cannot move (none:
    it can) and warnings (it moves, but something of the new version does not reach it)."""

    steps: list[StepMove] = field(default_factory=list)
    reasons: list[Message] = field(default_factory=list)
    warnings: list[Message] = field(default_factory=list)

    @property
    def movable(self) -> bool:
        return not self.reasons


def _name(spec) -> str:
    return getattr(spec, "bpmn_name", None) or getattr(spec, "bpmn_id", None) or spec.name


def _is_timer(spec) -> bool:
    definition = getattr(spec, "event_definition", None)
    definitions = getattr(definition, "event_definitions", None) or [definition]
    return any(isinstance(d, TimerEventDefinition) for d in definitions)


def alignment(old: LoadedVersion, new: LoadedVersion, mapping: dict[str, str]) -> tuple[SpecDiff, dict]:
    """SpiffWorkflow's alignment of the old spec's task specs with the new one's (by element id, else by
    structure), with the mapping {old user task id: new user task id} laid over it (with the boundary-event
    specs derived from each mapped activity)."""
    diff = SpecDiff(serializer.spec_registry(), old.spec, new.spec)
    aligned = dict(diff.alignment)
    for source, target in mapping.items():
        for suffix in ("",) + _DERIVED:
            old_spec = old.spec.task_specs.get(source + suffix)
            new_spec = new.spec.task_specs.get(target + suffix)
            if old_spec is not None and (new_spec is not None or not suffix):
                aligned[old_spec] = new_spec
    return diff, aligned


def plan(workflow: BpmnWorkflow, old: LoadedVersion, new: LoadedVersion, mapping: dict[str, str]) -> Plan:
    """What moving this workflow from `old` to `new` would do, and why it may not (read-only)."""
    diff, aligned = alignment(old, new, mapping)
    changed = set(diff.changed)
    out = Plan()
    for task in workflow.get_tasks(state=_ACTIVE, skip_subprocesses=True):
        spec = task.task_spec
        target = aligned.get(spec)
        manual, timer = spec.manual, _is_timer(spec)
        if manual or timer:
            out.steps.append(StepMove(str(task.id), "task" if manual else "timer", spec.name, _name(spec),
                                      target.name if target is not None else None,
                                      _name(target) if target is not None else None))
        if target is None:
            out.reasons.append(msg("migration.open_step_removed", name=_name(spec), version=new.version)
                               if manual or timer else
                               msg("migration.active_element_removed", name=_name(spec), version=new.version))
            continue
        if manual and not target.manual:
            out.reasons.append(msg("migration.not_a_user_task", name=_name(target), version=new.version))
        loop = spec if isinstance(spec, LoopTask) else (
            task.parent.task_spec if task.parent is not None and isinstance(task.parent.task_spec, LoopTask) else None)
        if loop is not None and (loop in changed or spec in changed or aligned.get(loop) is None):
            out.reasons.append(msg("migration.multi_instance_changed", name=_name(loop), version=new.version))
        if isinstance(spec, SubWorkflowTask) and _subprocess_changed(workflow, task, spec, target, changed, new):
            out.reasons.append(msg("migration.subprocess_changed", name=_name(spec), version=new.version))
        added = _new_boundary_timers(old, new, spec, target)
        if added:
            out.warnings.append(msg("migration.timer_not_armed", name=_name(target), timers="、".join(added),
                                    version=new.version))
    for task in workflow.get_tasks(state=TaskState.FINISHED_MASK, skip_subprocesses=True):
        spec = task.task_spec
        if aligned.get(spec) is None and not _is_internal(spec):
            out.reasons.append(msg("migration.passed_step_removed", name=_name(spec), version=new.version))
    # one reason per element, in the order found
    seen: set[str] = set()
    out.reasons = [r for r in out.reasons if not (str(r) in seen or seen.add(str(r)))]
    return out


def _is_internal(spec) -> bool:
    """SpiffWorkflow's own specs (Start, the end join, boundary splits and joins): not steps of their own."""
    return (spec.name in ("Start", "End") or spec.name.endswith(".EndJoin")
            or spec.name.endswith(_DERIVED))  # an activity's boundary split/join: the activity speaks for them


def _subprocess_changed(workflow, task, spec, target, changed: set, new: LoadedVersion) -> bool:
    if spec in changed:
        return True
    sub = workflow.subprocesses.get(task.id)
    if sub is None:
        return False
    new_sub = new.subprocess_specs.get(sub.spec.name)
    if new_sub is None:
        return True
    inner = SpecDiff(serializer.spec_registry(), sub.spec, new_sub)
    return bool(inner.added or inner.removed or inner.changed)


def _new_boundary_timers(old: LoadedVersion, new: LoadedVersion, spec, target) -> list[str]:
    """Timers the new version attaches to an open activity that the old one did not: they are not armed for a
    case already inside it (its boundary events were armed when it entered the activity)."""
    if target is None or not target.manual:
        return []
    split_old = old.spec.task_specs.get(spec.name + ".BoundaryEventSplit")
    split_new = new.spec.task_specs.get(target.name + ".BoundaryEventSplit")
    if split_new is None:
        return []
    before = {s.name for s in split_old.outputs} if split_old is not None else set()
    return [_name(s) for s in split_new.outputs if s.name not in before and _is_timer(s)]


def migrate(workflow: BpmnWorkflow, old: LoadedVersion, new: LoadedVersion, mapping: dict[str, str],
            script_engine) -> BpmnWorkflow:
    """The workflow moved to `new`: definite tasks kept (ids, data, timer moments) and re-pointed at their
    counterparts, the branches not yet started predicted again from the new spec; returned as restored from its
    stored form (which proves every task resolves in the new spec). The caller checked plan(...).movable.
    Raises ValueError when a task has no counterpart after all."""
    _diff, aligned = alignment(old, new, mapping)
    for task in list(workflow.get_tasks(skip_subprocesses=True)):
        target = aligned.get(task.task_spec)
        if target is not None:
            task.task_spec = target
    workflow.spec = new.spec
    workflow.subprocess_specs = new.subprocess_specs
    frontier = [t for t in workflow.get_tasks(skip_subprocesses=True)
                if t.has_state(TaskState.DEFINITE_MASK) and (t.parent is None or t.parent.has_state(TaskState.FINISHED_MASK))
                or t.has_state(_ACTIVE)]
    for task in frontier:
        if task.id not in workflow.tasks:
            continue
        for child in list(task.children):
            if child.has_state(_PREDICTED):
                workflow._remove_task(child.id)
        task.task_spec._predict(task, mask=_PREDICTED | _ACTIVE)
    stray = [t.task_spec.name for t in workflow.get_tasks(skip_subprocesses=True)
             if new.spec.task_specs.get(t.task_spec.name) is not t.task_spec]
    if stray:
        raise ValueError(f"no counterpart in version {new.version} for {', '.join(sorted(set(stray)))}")
    return serializer.load_workflow(serializer.dump_workflow(workflow), new.spec, new.subprocess_specs,
                                    script_engine)
