"""SpiffWorkflow's side: the script environment and script engine that run every condition, timer value and
script task through the sandbox, each engine with its own ``Limits``."""
from __future__ import annotations

import keyword
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.errors import CaseError, SandboxError
from engine.scripting.compiler import _compiled_or_raise
from engine.scripting.evaluation import Helpers, _check_helper_names, _run_eval, execute
from engine.scripting.guards import _RESERVED_GLOBALS
from engine.scripting.limits import DEFAULT_LIMITS, LimitExceeded, Limits
from engine.scripting.names import BUILTIN_NAMES, FORBIDDEN_NAMES


class SandboxedEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment that evaluates and executes through this module's sandbox.

    Like TaskDataEnvironment, the names visible to code are the helpers, the external context (data objects)
    and the task data; a task data key that hides a helper the code uses is an error, and helpers never end up
    in the task data.
    """

    def __init__(self, helpers: Helpers | None = None, limits: Limits = DEFAULT_LIMITS):
        super().__init__({})
        self.limits = limits
        self.helpers: dict[str, Callable[..., Any]] = dict(helpers or {})
        for name, helper in self.helpers.items():
            if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_"):
                raise ValueError(f"helper name {name!r} is not a usable Python name")
            if name in BUILTIN_NAMES or name in FORBIDDEN_NAMES:
                raise ValueError(f"helper name {name!r} clashes with a sandbox builtin")
            if not callable(helper):
                raise ValueError(f"helper {name!r} is not callable")

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: Mapping[str, Any] | None = None) -> Any:
        external = external_context or {}
        code, compiled = _compiled_or_raise(expression, "eval", self.limits)
        _check_helper_names(compiled, self.helpers, context, external)
        scope: dict[str, Any] = dict(self.helpers)
        scope.update(external)
        scope.update(context)
        scope.update(_RESERVED_GLOBALS)
        result = _run_eval(code, scope, self.limits)
        # SpiffWorkflow's timers parse the value as a string (`.upper()`), and task data holds ISO text.
        if isinstance(result, (datetime, date)):
            return result.isoformat()
        return result

    def execute(self, script: str, context: dict[str, Any],
                external_context: Mapping[str, Any] | None = None) -> bool:
        execute(script, context, helpers=self.helpers, external=external_context, limits=self.limits)
        return True


def describe_error(exc: BaseException) -> str:
    """A one-line account of why an expression or script failed, for task errors and logs."""
    if isinstance(exc, (CaseError, LimitExceeded)):
        return exc.message
    return f"{type(exc).__name__}: {exc}"


class SandboxedScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose errors say what went wrong.

    SpiffWorkflow 3.2 reports a failed expression only as "Error evaluating expression '...'" and builds script
    errors with ``err.args[0]`` concatenation (a TypeError for ``KeyError(1)``); both lose the reason a designer
    needs, such as which forbidden name a condition used. The original exception stays as ``__cause__``.
    """

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except LimitExceeded as exc:
            error = _at_element(exc, task)
            raise WorkflowTaskException(describe_error(error), task=task, exception=error) from error
        except SpiffWorkflowException as exc:
            exc.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as exc:
            raise WorkflowTaskException(f"Error evaluating expression '{expression}': {describe_error(exc)}",
                                        task=task, exception=exc) from exc

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except LimitExceeded as exc:
            error = _at_element(exc, task)
            raise self.create_task_exec_exception(task, script, error) from error
        except Exception as exc:
            raise self.create_task_exec_exception(task, script, exc) from exc

    def create_task_exec_exception(self, task: Any, script: str, err: Exception) -> Exception:
        if isinstance(err, SpiffWorkflowException):
            return super().create_task_exec_exception(task, script, err)
        line_number, error_line = self.get_error_line_number_and_content(script, err)
        if not line_number and isinstance(err, SandboxError) and isinstance(err.details, dict):
            # Rule violations are found before the script runs, so there is no traceback line to read.
            line_number = err.details.get("line") or 0
            lines = script.splitlines()
            error_line = lines[line_number - 1] if 0 < line_number <= len(lines) else ""
        return WorkflowTaskException(describe_error(err), task=task, exception=err,
                                     line_number=line_number, error_line=error_line)


def _at_element(exc: LimitExceeded, task: Any) -> LimitExceeded:
    spec = getattr(task, "task_spec", None)
    return exc.at(getattr(spec, "bpmn_id", None), getattr(spec, "bpmn_name", None))


def make_script_engine(helpers: Helpers, limits: Limits = DEFAULT_LIMITS) -> PythonScriptEngine:
    """The script engine every BpmnWorkflow of the engine must use: sandboxed, with the calendar helpers, and
    enforcing `limits` (the runtime passes its own; two engines with different limits never share them)."""
    return SandboxedScriptEngine(environment=SandboxedEnvironment(helpers, limits))
