"""Storing a spec as JSON and restoring it, with the serializer config that matches CamundaSpecParser."""
from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Iterable

from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnTaskSpecConverter
from SpiffWorkflow.bpmn.serializer.helpers.registry import DefaultRegistry
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.bpmn_process_spec import BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

from engine.errors import Problem
from engine.specs.decision_task import DecisionTask, DecisionTaskConverter
from engine.specs.facts import ProcessDefinition
from engine.specs.xmldoc import _Doc

log = logging.getLogger(__name__)


SPEC_FORMAT_KEY = "jiefen_spec_format"
SPEC_FORMAT_VERSION = 1


def spec_serializer_config() -> dict:
    """The serializer config matching CamundaSpecParser (the workflow serializer must use it too).

    CAMUNDA_CONFIG plus a converter for plain service tasks. The receive/send task fix lives in the parser
    (it builds Camunda message definitions), so nothing else is needed for the classes the parser produces.
    """
    config = dict(CAMUNDA_CONFIG)
    # 3.2.0's DEFAULT_CONFIG has no converter for the plain bpmn:serviceTask spec the Camunda parser builds.
    config[ServiceTask] = BpmnTaskSpecConverter
    config[DecisionTask] = DecisionTaskConverter  # a business rule task with its translated table (dmn.py)
    return config


def serialize_spec(defn: ProcessDefinition) -> str:
    """JSON text of a definition's spec and subprocess specs (stored once per process version)."""
    return _specs_to_json(defn.spec, defn.subprocess_specs)


def restore_spec(text: str) -> tuple[BpmnProcessSpec, dict]:
    """Inverse of serialize_spec: (spec, subprocess_specs)."""
    dct = json.loads(text)
    version = dct.get(SPEC_FORMAT_KEY)
    if version != SPEC_FORMAT_VERSION:
        raise ValueError(f"stored spec format {version!r} is not supported (expected {SPEC_FORMAT_VERSION})")
    registry = _registry()
    spec = registry.restore(dct["spec"])
    subprocess_specs = {name: registry.restore(sub) for name, sub in dct["subprocess_specs"].items()}
    return spec, subprocess_specs


@lru_cache(maxsize=1)
def _registry() -> DefaultRegistry:
    return BpmnWorkflowSerializer.configure(spec_serializer_config())


def _specs_to_json(spec: BpmnProcessSpec, subprocess_specs: dict) -> str:
    registry = _registry()
    dct = {
        SPEC_FORMAT_KEY: SPEC_FORMAT_VERSION,
        "spec": registry.convert(spec),
        "subprocess_specs": {name: registry.convert(sub) for name, sub in subprocess_specs.items()},
    }
    return json.dumps(dct, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _unserializable_task(specs: Iterable[BpmnProcessSpec]) -> tuple[str | None, str | None, str]:
    """(spec file, bpmn id, reason) of the first task spec that does not serialize, to point at the element."""
    registry = _registry()
    for spec in specs:
        for task_spec in spec.task_specs.values():
            try:
                json.dumps(registry.convert(task_spec))
            except (TypeError, ValueError) as exc:
                return spec.file, getattr(task_spec, "bpmn_id", None), str(exc)
    return None, None, ""


def _round_trip(spec: BpmnProcessSpec, subs: dict, pid: str, docs: dict[str, _Doc],
                file_name: str) -> tuple[tuple[BpmnProcessSpec, dict] | None, Problem | None]:
    """Serialize, restore and compare; the restored specs are what the engine will run."""
    try:
        text = _specs_to_json(spec, subs)
    except (TypeError, ValueError) as exc:
        bad_file, bad_id, reason = _unserializable_task([spec, *subs.values()])
        log.warning("spec %s does not serialize: %s", pid, reason or exc)
        doc = docs.get(bad_file or "")
        return None, Problem(
            message="The engine cannot store this element of the process definition (it contains something the "
                    "spec serializer does not know); please report this with the file.",
            element_id=bad_id, line=doc.line_of(bad_id) if doc else None, file=bad_file or file_name)
    try:
        restored = restore_spec(text)
        again = _specs_to_json(*restored)
    except Exception as exc:  # noqa: BLE001 - any failure here is a deploy-time rejection, not a crash
        log.warning("spec %s does not restore: %r", pid, exc)
        again, restored = None, None
    if again != text or restored is None:
        return None, Problem(message=f"The process definition '{pid}' does not survive being stored and reloaded; "
                                     "please report this with the file.", element_id=pid,
                             line=docs[file_name].line_of(pid) if file_name in docs else None, file=file_name)
    return restored, None
