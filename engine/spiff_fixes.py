"""Where SpiffWorkflow 3.2's behaviour does not fit a case engine, the one place we change it.

A called process hands back `subworkflow.last_task.data`: the data of whichever branch ended last. When a
reminder or report branch ends after the main path, stale data flows back into the caller (a rejected
confirmation could come back as "not confirmed"). We hand back the data of the process's *outcome*: the
last named end event, as the case outcome is chosen (designers leave side-branch ends unnamed).
"""
from __future__ import annotations

import logging
from copy import deepcopy

from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity
from SpiffWorkflow.util.task import TaskState

log = logging.getLogger(__name__)


def outcome_end_task(workflow):
    """The end event a (sub)process finished on: the last named one, else the last one."""
    ends = [t for t in workflow.get_tasks(state=TaskState.COMPLETED, skip_subprocesses=True)
            if t.task_spec.__class__.__name__ == "EndEvent" and t.workflow is workflow]
    if not ends:
        return None
    named = [t for t in ends if t.task_spec.bpmn_name]
    return max(named or ends, key=lambda t: t.last_state_change)


_original_update_data = CallActivity.update_data


def _update_data(self, my_task, subworkflow):
    if subworkflow.spec.io_specification is None or len(subworkflow.spec.io_specification.data_outputs) == 0:
        end = outcome_end_task(subworkflow)
        if end is not None:
            my_task.data = deepcopy(end.data)
            return
    _original_update_data(self, my_task, subworkflow)


def install() -> None:
    """Called by ``Runtime()``, never at import; a second call changes nothing."""
    if CallActivity.update_data is not _update_data:
        CallActivity.update_data = _update_data
