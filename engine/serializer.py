"""The only code that turns a BpmnWorkflow into stored JSON and back.

A case stores its workflow *by spec reference*: the spec lives once in `process_versions`, the case row
keeps only task states and data (DESIGN.md: ~32 KB -> ~10 KB per case). The stored document is stamped
with our own format version on top of SpiffWorkflow's.
"""
from __future__ import annotations

import copy
import json
import logging
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from engine.specs import spec_serializer_config  # the same converters the stored specs use

log = logging.getLogger(__name__)

FORMAT_KEY = "jiefen_format"
FORMAT_VERSION = 1


class _SpecRefWorkflowConverter(BpmnWorkflowConverter):
    """Like SpiffWorkflow's converter, but without the spec: the caller hands the cached spec back in."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        if spec is None:
            raise ValueError("a case workflow can only be restored with its process version's spec")
        workflow = self.target_class(spec, subprocess_specs or {}, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_serializer() -> BpmnWorkflowSerializer:
    config = copy.copy(spec_serializer_config())
    config[BpmnWorkflow] = _SpecRefWorkflowConverter
    return BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))


_SERIALIZER = _make_serializer()


def dump_workflow(workflow: BpmnWorkflow) -> str:
    """Serialize a case's workflow (without its spec) to JSON text."""
    registry = _SERIALIZER.registry
    registry._encoder_mode = True
    try:
        dct = _SERIALIZER.to_dict(workflow)
    finally:
        registry._encoder_mode = False
    dct[_SERIALIZER.VERSION_KEY] = _SERIALIZER.VERSION
    dct[FORMAT_KEY] = FORMAT_VERSION
    return json.dumps(dct, cls=_SERIALIZER._encoder_cls, ensure_ascii=False, separators=(",", ":"))


def load_workflow(text: str, spec, subprocess_specs: dict, script_engine=None) -> BpmnWorkflow:
    """Restore a case's workflow from JSON text and its version's (cached) spec."""
    dct = json.loads(text)
    fmt = dct.pop(FORMAT_KEY, None)
    if fmt != FORMAT_VERSION:
        raise ValueError(f"stored case format {fmt!r} is not supported (expected {FORMAT_VERSION})")
    _SERIALIZER.migrate(dct)
    workflow = _SERIALIZER.registry.restore(dct, spec=spec, subprocess_specs=subprocess_specs)
    if script_engine is not None:
        workflow.script_engine = script_engine
    return workflow


def spec_registry():
    """The converter registry of stored specs and workflows (SpiffWorkflow's SpecDiff compares specs through it)."""
    return _SERIALIZER.registry
