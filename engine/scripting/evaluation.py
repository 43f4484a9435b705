"""Run time: evaluating an expression and executing a script under a budget, and turning what a script leaves
into storable task data."""
from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from datetime import date, datetime
from types import CodeType
from typing import Any

from engine.errors import SandboxError, TaskFailed
from engine.scripting.compiler import _Compiled, _compiled_or_raise
from engine.scripting.guards import _RESERVED_GLOBALS
from engine.scripting.limits import DEFAULT_LIMITS, Limits, _budgeted, _json_size, _output_error

Helpers = Mapping[str, Callable[..., Any]]


def _to_task_data(value: Any, name: str, path: tuple[int, ...] = ()) -> Any:
    """Return `value` as storable task data: dates become ISO strings, tuples lists; containers are fixed in place.

    Raises TaskFailed for anything else (sets, functions, ranges...), which SpiffWorkflow's serializer would
    either reject later with an obscure error or store in a shape that does not survive a reload.
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, (list, dict)):
        if id(value) in path:
            raise TaskFailed(f"the script variable '{name}' contains itself and cannot be stored in task data")
        inner = path + (id(value),)
        if isinstance(value, list):
            for index, item in enumerate(value):
                converted = _to_task_data(item, name, inner)
                if converted is not item:
                    value[index] = converted
        else:
            for key, item in value.items():
                if not isinstance(key, str):
                    raise TaskFailed(f"the script variable '{name}' has a dict key {key!r} that is not text; "
                                     "task data keys must be text")
                converted = _to_task_data(item, name, inner)
                if converted is not item:
                    value[key] = converted
        return value
    kind = getattr(type(value), "_name", type(value).__name__)  # StableSet -> set
    raise TaskFailed(f"the script variable '{name}' holds a {kind}, which task data cannot store; "
                     "use text, numbers, True/False, None, lists or dicts (dates as ISO text)")


def _check_helper_names(compiled: _Compiled, helpers: Helpers, data: Mapping[str, Any],
                        external: Mapping[str, Any]) -> None:
    """Fail clearly when task data hides a helper the code uses, or a script rebinds a helper's name."""
    hidden = sorted(compiled.names & helpers.keys() & (data.keys() | external.keys()))
    if hidden:
        names = ", ".join(f"'{name}'" for name in hidden)
        raise SandboxError(f"task data variable(s) {names} hide the helper function(s) of the same name; "
                           "give the form field or variable another name")
    rebound = sorted(compiled.stored & helpers.keys())
    if rebound:
        names = ", ".join(f"'{name}'" for name in rebound)
        raise SandboxError(f"the script assigns to {names}, the name of a helper function; "
                           "choose another variable name")


def evaluate(source: str, names: Mapping[str, Any], *, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Evaluate a BPMN expression in the sandbox; `names` are every name it may read (task data and helpers).

    Raises SandboxError if the expression breaks the sandbox rules; errors of the expression itself (NameError,
    ZeroDivisionError...) propagate unchanged.
    """
    code, _ = _compiled_or_raise(source, "eval", limits)
    scope = dict(names)
    scope.update(_RESERVED_GLOBALS)
    return _run_eval(code, scope, limits)


def _run_eval(code: CodeType, scope: dict[str, Any], limits: Limits) -> Any:
    """Evaluate under the budget; the value is measured as output too (a list an expression builds)."""
    result = _budgeted(eval, code, scope, limits)  # RestrictedPython-compiled code with guarded globals
    if not isinstance(result, (bool, int, float)) and result is not None:
        size = _json_size(result, limits.output_bytes)
        if size > limits.output_bytes:
            raise _output_error(limits, size, "the expression's value")
    return result


def execute(source: str, data: MutableMapping[str, Any], *, helpers: Helpers | None = None,
            external: Mapping[str, Any] | None = None, limits: Limits = DEFAULT_LIMITS) -> None:
    """Run a script task's script in the sandbox; its assignments (and `del`s) update `data`, the task data.

    Functions the script defines, the helpers and `external` names are never copied into `data`. Assignments
    are applied only if the whole script succeeds (in-place changes to task-data lists and dicts are immediate).
    Raises SandboxError for a rule violation, LimitExceeded when it uses more CPU time, memory or output than
    `limits` allow, TaskFailed if the script leaves a value task data cannot store; errors of the
    script itself propagate unchanged.
    """
    helpers = helpers or {}
    external = external or {}
    code, compiled = _compiled_or_raise(source, "exec", limits)
    _check_helper_names(compiled, helpers, data, external)
    scope: dict[str, Any] = dict(helpers)
    scope.update(external)
    scope.update(data)
    scope.update(_RESERVED_GLOBALS)
    # Containers the script may change in place count as output only by what they grow.
    before = {name: _json_size(value, limits.output_bytes) for name, value in data.items()
              if isinstance(value, (list, dict))}
    _budgeted(exec, code, scope, limits)  # RestrictedPython-compiled code with guarded globals

    updates: dict[str, Any] = {}
    removals: list[str] = []
    for name, value in scope.items():
        if name.startswith("_") or name in helpers or (name in external and name not in data):
            continue
        if callable(value):
            # Functions the script defined, or a builtin it bound to a name: TaskDataEnvironment drops them too.
            if name in data:
                removals.append(name)
            continue
        if name in data and data[name] is value and not isinstance(value, (list, dict)):
            continue  # unchanged scalar: leave it exactly as stored
        updates[name] = value
    written = 0
    for name, value in updates.items():  # measured before _to_task_data walks (and the serializer copies) it
        if isinstance(value, (list, tuple, dict)):
            size = _json_size(value, limits.output_bytes)
            if name in before and data.get(name) is value:
                size = max(0, size - before[name])
        else:
            size = _json_size(value, limits.output_bytes) if isinstance(value, str) else 24
        written += size
        if written > limits.output_bytes:
            raise _output_error(limits, written, "the task data this script writes")
    for name, value in updates.items():
        updates[name] = _to_task_data(value, name)
    removals += [name for name in data if not name.startswith("_") and name not in scope]
    for name in removals:
        del data[name]
    data.update(updates)
