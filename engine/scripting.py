"""The one place that decides what BPMN expressions and scripts may do: deploy-time checks and the run-time sandbox.

SpiffWorkflow 3.2 runs conditions, timer values and script tasks with plain ``eval``/``exec`` over the task data,
which is escapable (see DESIGN.md, "SpiffWorkflow 3.2 facts"). This module replaces that with two layers:

1. A static rule check on the parsed source (``check_expression``, ``check_script``, ``check_timer_expression``)
   whose messages are written for a process designer. The same check runs again before anything is compiled at
   run time, so a process that slipped past deployment still cannot run a forbidden construct.
2. RestrictedPython compilation with our own guards and a short list of builtins, so that even a construct the
   static check missed meets a guard (attribute access, writes, in-place operators) or a missing name.

Task data is JSON-ish (dict, list, str, numbers, bool, None); datetimes are stored as ISO strings.
"""
from __future__ import annotations

import ast
import builtins
import functools
import keyword
import logging
import operator
import re
import textwrap
import warnings
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import CodeType
from typing import Any, Literal

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence, safer_getattr
from RestrictedPython.transformer import INSPECT_ATTRIBUTES
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.clock import CHINA_TZ, current_now
from engine.errors import CaseError, SandboxError, TaskFailed

log = logging.getLogger(__name__)

Mode = Literal["eval", "exec"]
Helpers = Mapping[str, Callable[..., Any]]

TIMER_KINDS: frozenset[str] = frozenset({"timeDate", "timeDuration", "timeCycle"})

TIMER_HINT = 'timer value must be a quoted string such as "P30D" or an expression such as legal_days(30)'
JUEL_MESSAGE = "JUEL expressions are not supported; write a Python expression"

# Names that give access to code, the interpreter or the outside world. Most are not in the sandbox's builtins
# anyway; listing them lets the deploy check say *why* instead of failing later with "name is not defined".
FORBIDDEN_NAMES: frozenset[str] = frozenset({
    "eval", "exec", "compile", "open", "getattr", "setattr", "delattr", "hasattr", "globals", "locals", "vars",
    "dir", "__import__", "type", "object", "input", "breakpoint", "help", "memoryview", "super", "classmethod",
    "staticmethod", "property", "exit", "quit", "print", "reload", "bytearray", "__build_class__",
})

_NAME_HINTS: dict[str, str] = {
    "type": "use isinstance(value, dict) to test what kind of value you have, and give form fields a more "
            "specific id such as dispute_type",
    "object": "give form fields a more specific id such as dispute_object",
    "print": "scripts have no console; assign the value to a variable instead",
    "open": "processes cannot read or write files",
    "input": "processes cannot ask for input; use a user task with a form",
    "getattr": "use d['key'] or d.get('key') on task data",
}

# Attribute names that lead from a harmless value to interpreter internals (frames, code, the class tree) or
# to str.format's attribute lookups ('{0.__class__}'.format(x)). Names starting with '_' are refused as well.
FORBIDDEN_ATTRIBUTES: frozenset[str] = frozenset(INSPECT_ATTRIBUTES) | {
    "format", "format_map", "mro", "func_globals", "func_code", "vformat", "get_field",
}

_FORMAT_ATTRIBUTES = frozenset({"format", "format_map", "vformat", "get_field"})

_BUILTIN_NAMES = (
    "None", "False", "True",
    "len", "min", "max", "sum", "abs", "round", "sorted", "any", "all",
    "int", "float", "str", "bool", "list", "dict", "set", "tuple", "range", "enumerate", "zip", "isinstance",
    # Exceptions let a script fail its task with a designer-written reason (raise ValueError("...")).
    "Exception", "ValueError", "KeyError", "IndexError", "TypeError", "ZeroDivisionError",
)


class _ClockedClassMeta(type):
    """Makes a stand-in class act like the real one for calls, isinstance() and class attributes.

    The stand-ins exist only so that ``now()``/``today()`` read the engine clock (a replayed case must see the
    time of its command, not the wall clock); every value they produce is a plain datetime/date.
    """

    _real: type

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls._real(*args, **kwargs)

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls._real)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._real, name)


class SandboxDatetime(metaclass=_ClockedClassMeta):
    """``datetime`` as scripts see it: now()/today()/utcnow() are aware and come from the engine clock."""

    _real = datetime

    @staticmethod
    def now(tz: Any = None) -> datetime:
        # Aware China time when no zone is given: naive datetimes compare badly with stored +08:00 ISO strings.
        return current_now().astimezone(tz or CHINA_TZ)

    @staticmethod
    def today() -> datetime:
        return current_now().astimezone(CHINA_TZ)

    @staticmethod
    def utcnow() -> datetime:
        return current_now()


class SandboxDate(metaclass=_ClockedClassMeta):
    """``date`` as scripts see it: today() is the China date of the engine clock."""

    _real = date

    @staticmethod
    def today() -> date:
        return current_now().astimezone(CHINA_TZ).date()


# RestrictedPython's vetted objects where it has them, the plain builtin otherwise (its guarded variants of
# min/max/list... live in Zope's AccessControl; here all values are plain task data, so the originals are fine).
_BUILTINS: dict[str, Any] = {name: safe_builtins[name] if name in safe_builtins else getattr(builtins, name)
                             for name in _BUILTIN_NAMES}
_BUILTINS.update({"datetime": SandboxDatetime, "date": SandboxDate, "timedelta": timedelta})

BUILTIN_NAMES: frozenset[str] = frozenset(_BUILTINS)
"""Every name an expression can use besides task data and helpers (form field ids should not reuse them)."""


# --------------------------------------------------------------------------------------------------------------
# Run-time guards that RestrictedPython's compiled code calls.

_MISSING = object()


def _guarded_getattr(obj: Any, name: str, default: Any = _MISSING) -> Any:
    """Every ``a.b`` in sandboxed code runs through here (as ``_getattr_(a, 'b')``)."""
    if not isinstance(name, str):
        raise SandboxError("attribute names must be text")
    if name.startswith("_"):
        raise SandboxError(f"attribute '{name}' is not allowed: names starting with '_' are reserved")
    if name in _FORMAT_ATTRIBUTES:
        raise SandboxError(f"'.{name}()' is not allowed; use an f-string such as f\"{{name}}\" or the % operator")
    if name in FORBIDDEN_ATTRIBUTES:
        raise SandboxError(f"attribute '{name}' is not allowed: it exposes Python internals")
    # safer_getattr returns its default (None) for a missing attribute; pass a sentinel so a designer's typo
    # raises AttributeError instead of silently reading None.
    value = safer_getattr(obj, name, _MISSING)
    if value is _MISSING:
        if default is not _MISSING:
            return default
        raise AttributeError(f"'{type(obj).__name__}' value has no attribute '{name}'")
    return value


def _guarded_write(obj: Any) -> Any:
    """``a[k] = v``, ``del a[k]`` and ``a.b = v`` call this on ``a`` first; only task-data containers may change."""
    if type(obj) in (dict, list):
        return obj
    raise SandboxError(f"a {type(obj).__name__} cannot be changed; scripts may only change lists and dicts")


_INPLACE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow, "<<=": operator.ilshift,
    ">>=": operator.irshift, "|=": operator.ior, "^=": operator.ixor, "&=": operator.iand,
}


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    """``x += y`` on a plain name compiles to ``x = _inplacevar_('+=', x, y)``."""
    func = _INPLACE_OPERATORS.get(op)
    if func is None:
        raise SandboxError(f"the operator '{op}' is not allowed")
    return func(target, value)


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``f(*args, **kwargs)`` compiles to ``_apply_(f, *args, **kwargs)``; arguments are plain data here."""
    return func(*args, **kwargs)


# Put into the globals *after* task data, so a data key such as "_getattr_" can never replace a guard.
_RESERVED_GLOBALS: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": default_guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": _guarded_write,
    "_inplacevar_": _inplacevar,
    "_apply_": _apply,
}


# --------------------------------------------------------------------------------------------------------------
# Static rules.

@dataclass(frozen=True)
class _Problem:
    line: int | None
    message: str
    end_column: int = 0  # orders problems as the designer reads them: `().__class__` before `.__base__`


class _RuleChecker(ast.NodeVisitor):
    """Walks a parsed expression or script and records every construct the sandbox refuses."""

    def __init__(self) -> None:
        self.problems: list[_Problem] = []
        self.names: set[str] = set()
        self.stored: set[str] = set()

    def _add(self, node: ast.AST, message: str) -> None:
        self.problems.append(_Problem(getattr(node, "lineno", None), message,
                                      getattr(node, "end_col_offset", None) or 0))

    def _check_name(self, node: ast.AST, name: str) -> None:
        if name.startswith("_") and name != "_":
            self._add(node, f"the name '{name}' is not allowed: names starting with '_' are reserved")
        elif name in FORBIDDEN_NAMES:
            hint = _NAME_HINTS.get(name)
            self._add(node, f"'{name}' is not allowed in expressions and scripts" + (f"; {hint}" if hint else ""))

    def visit_Name(self, node: ast.Name) -> None:
        self.names.add(node.id)
        if not isinstance(node.ctx, ast.Load):
            self.stored.add(node.id)
        self._check_name(node, node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            self._add(node, f"the attribute '.{node.attr}' is not allowed: names starting with '_' are reserved")
        elif node.attr in _FORMAT_ATTRIBUTES:
            self._add(node, f"'.{node.attr}()' is not allowed; use an f-string such as f\"{{name}}\" "
                            "or the % operator")
        elif node.attr in FORBIDDEN_ATTRIBUTES:
            self._add(node, f"the attribute '.{node.attr}' is not allowed: it exposes Python internals")
        self.generic_visit(node)

    def _visit_import(self, node: ast.Import | ast.ImportFrom) -> None:
        self._add(node, f"imports are not allowed ('{ast.unparse(node)}'); expressions and scripts can use only "
                        "task data and the engine's helper functions")

    visit_Import = _visit_import
    visit_ImportFrom = _visit_import

    def _check_arguments(self, node: ast.FunctionDef | ast.Lambda) -> None:
        arguments = node.args
        for arg in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg,
                    arguments.kwarg]:
            if arg is not None:
                self._check_name(node, arg.arg)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._check_name(node, node.name)
        self.names.add(node.name)
        self.stored.add(node.name)
        self._check_arguments(node)
        self.generic_visit(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._check_arguments(node)
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._add(node, "class definitions are not allowed; use dicts for structured values")

    def _visit_async(self, node: ast.AST) -> None:
        self._add(node, "async code is not allowed")

    visit_AsyncFunctionDef = _visit_async
    visit_AsyncFor = _visit_async
    visit_AsyncWith = _visit_async
    visit_Await = _visit_async

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        # RestrictedPython cannot guard `d['k'] += 1` (no _inplacevar_ hook for items); say how to write it.
        if isinstance(node.target, (ast.Subscript, ast.Attribute)):
            target = ast.unparse(node.target)
            operator_text = ast.unparse(ast.BinOp(ast.Name("a"), node.op, ast.Name("b")))[2:-2]
            self._add(node, f"'{target} {operator_text}= ...' is not allowed; write "
                            f"{target} = {target} {operator_text} ...")
        self.generic_visit(node)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self._check_name(node, node.name)
            self.stored.add(node.name)
        self.generic_visit(node)


_JUEL = re.compile(r"[$#]\{")


def _format_problems(problems: list[_Problem], with_lines: bool) -> tuple[str, ...]:
    return tuple(f"line {p.line}: {p.message}" if with_lines and p.line else p.message for p in problems)


def _restricted_python_problems(errors: list[str] | tuple[str, ...]) -> list[_Problem]:
    """RestrictedPython says 'Line 3: ...'; keep its text, as structured problems."""
    problems = []
    for error in errors:
        match = re.match(r"Line (\d+|None): (.*)", error, re.S)
        if match:
            line = int(match.group(1)) if match.group(1).isdigit() else None
            problems.append(_Problem(line, match.group(2)))
        else:
            problems.append(_Problem(None, error))
    return problems


@dataclass(frozen=True)
class _Compiled:
    """The cached result of checking and compiling one source string in one mode."""

    code: CodeType | None
    problems: tuple[str, ...]
    first_line: int | None
    syntax_error: bool
    names: frozenset[str]
    stored: frozenset[str]
    tree: ast.AST | None


def _prepare(source: str, mode: Mode) -> str:
    # Conditions in BPMN XML often carry surrounding whitespace, which eval mode reads as an indent; scripts are
    # only dedented, so line numbers stay those the designer sees.
    return source.strip() if mode == "eval" else textwrap.dedent(source)


@functools.lru_cache(maxsize=4096)
def _compile(source: str, mode: Mode) -> _Compiled:
    """Check and compile once per (source, mode): conditions are evaluated on every engine step."""
    text = _prepare(source, mode)
    with_lines = mode == "exec" or "\n" in text
    stripped = text.strip()

    def rejected(problems: list[_Problem], syntax_error: bool = False, checker: _RuleChecker | None = None,
                 tree: ast.AST | None = None) -> _Compiled:
        return _Compiled(None, _format_problems(problems, with_lines), problems[0].line, syntax_error,
                         frozenset(checker.names) if checker else frozenset(),
                         frozenset(checker.stored) if checker else frozenset(), tree)

    if mode == "eval" and not stripped:
        return rejected([_Problem(None, "the expression is empty")], syntax_error=True)
    if stripped.startswith(("${", "#{")):
        return rejected([_Problem(None, JUEL_MESSAGE)], syntax_error=True)

    # Compile-time SyntaxWarnings ('"is" with a literal') are designer bugs; report them instead of letting them
    # escape as warnings. catch_warnings is process-global, but this runs once per source thanks to the cache.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            tree = ast.parse(text, mode=mode)
        except SyntaxError as exc:
            if _JUEL.search(text):
                return rejected([_Problem(exc.lineno, JUEL_MESSAGE)], syntax_error=True)
            return rejected([_Problem(exc.lineno, f"syntax error: {exc.msg}")], syntax_error=True)

        checker = _RuleChecker()
        checker.visit(tree)
        if checker.problems:
            ordered = sorted(checker.problems, key=lambda p: (p.line or 0, p.end_column))
            return rejected(ordered, checker=checker, tree=tree)

        result = (compile_restricted_eval if mode == "eval" else compile_restricted_exec)(text)
    problems = _restricted_python_problems(result.errors)
    problems += [_Problem(w.lineno, str(w.message)) for w in caught
                 if issubclass(w.category, (SyntaxWarning, DeprecationWarning))]
    if problems or result.code is None:
        return rejected(problems or [_Problem(None, "the code could not be compiled")], checker=checker, tree=tree)
    log.debug("compiled a %d-character %s source for the sandbox", len(text), mode)
    return _Compiled(result.code, (), None, False, frozenset(checker.names), frozenset(checker.stored), tree)


def _compiled_or_raise(source: str, mode: Mode) -> tuple[CodeType, _Compiled]:
    compiled = _compile(source, mode)
    if compiled.code is None:
        kind = "expression" if mode == "eval" else "script"
        # Source text comes from the BPMN file, not from task data, so it may be logged.
        log.warning("sandbox refused this %s: %s", kind, "; ".join(compiled.problems))
        raise SandboxError(f"{kind} not allowed: " + "; ".join(compiled.problems),
                           details={"problems": list(compiled.problems), "line": compiled.first_line})
    return compiled.code, compiled


# --------------------------------------------------------------------------------------------------------------
# Deploy-time checks.

def check_expression(source: str) -> list[str]:
    """Problems with a condition or other BPMN expression, phrased for a process designer; empty if it is fine."""
    return list(_compile(source, "eval").problems)


def check_script(source: str) -> list[str]:
    """Problems with a script task's script, each with its line number; empty if it is fine."""
    return list(_compile(source, "exec").problems)


_BARE_ISO = re.compile(r"""^(?:
      R\d*/\S*                                             # repeating interval   R3/PT1H
    | [+-]?P(?=[\dT])[\dYMWDTHS.,]*                        # duration             P30D, PT4H
    | \d{4}-?(?:\d{2}-?\d{2}|W\d{2}-?\d?)(?:[T\s]\S*)?     # date, date-time, week date
)$""", re.X)

_NUMBER = r"\d+(?:[.,]\d+)?"
_ISO_DURATION = re.compile(
    rf"^P(?=\d|T\d)(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?=\d)(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?$", re.I)


def _check_timer_literal(value: str, kind: str) -> list[str]:
    """Validate a quoted timer literal with SpiffWorkflow's own parsers, so deploy time agrees with run time."""
    text = value.strip()
    if kind == "timeDuration":
        message = f'"{value}" is not an ISO 8601 duration; write one such as "P30D" (30 days) or "PT4H" (4 hours)'
        if not _ISO_DURATION.match(text):
            return [message]
        try:
            TimerEventDefinition.parse_iso_duration(text)
        except Exception:  # SpiffWorkflow raises a bare Exception('Invalid duration')
            return [message]
        return []
    if kind == "timeDate":
        message = f'"{value}" is not an ISO 8601 date or date-time; write one such as "2026-01-01T09:00:00+08:00"'
        try:
            parsed = TimerEventDefinition.parse_time_or_duration(text)
        except Exception:  # ValueError from fromisoformat, AttributeError from a bad week date
            return [message]
        return [] if isinstance(parsed, datetime) else [message]
    message = (f'"{value}" is not an ISO 8601 repeating interval; write one such as "R3/PT1H" '
               '(3 times, an hour apart) or "R/2026-01-01T09:00:00+08:00/P1D"')
    if not re.match(r"^R\d*/", text, re.I):
        return [message]
    try:
        TimerEventDefinition.parse_iso_recurring_interval(text)
    except Exception:  # SpiffWorkflow raises ValueError, TypeError or bare Exception depending on the part
        return [message]
    return []


def check_timer_expression(source: str, kind: str) -> list[str]:
    """Problems with a timer definition's body; `kind` is timeDate, timeDuration or timeCycle.

    SpiffWorkflow evaluates the body as a Python expression, so ISO text must be quoted ("P30D"); a quoted literal
    is validated here, an expression such as legal_days(30) only against the sandbox rules.
    Raises ValueError for an unknown kind.
    """
    if kind not in TIMER_KINDS:
        raise ValueError(f"unknown timer kind {kind!r}; expected one of {sorted(TIMER_KINDS)}")
    text = source.strip()
    if not text:
        return [f"the timer value is empty; {TIMER_HINT}"]
    if _BARE_ISO.match(text):
        return [TIMER_HINT]
    compiled = _compile(text, "eval")
    if compiled.problems:
        problems = list(compiled.problems)
        if compiled.syntax_error and JUEL_MESSAGE not in problems:
            problems.append(TIMER_HINT)
        return problems
    assert isinstance(compiled.tree, ast.Expression)
    body = compiled.tree.body
    if isinstance(body, ast.Constant):
        if isinstance(body.value, str):
            return _check_timer_literal(body.value, kind)
        return [TIMER_HINT]
    return []


# --------------------------------------------------------------------------------------------------------------
# Run time.

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
    raise TaskFailed(f"the script variable '{name}' holds a {type(value).__name__}, which task data cannot store; "
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


def evaluate(source: str, names: Mapping[str, Any]) -> Any:
    """Evaluate a BPMN expression in the sandbox; `names` are every name it may read (task data and helpers).

    Raises SandboxError if the expression breaks the sandbox rules; errors of the expression itself (NameError,
    ZeroDivisionError...) propagate unchanged.
    """
    code, _ = _compiled_or_raise(source, "eval")
    scope = dict(names)
    scope.update(_RESERVED_GLOBALS)
    return eval(code, scope)  # noqa: S307 - RestrictedPython-compiled code with guarded globals


def execute(source: str, data: MutableMapping[str, Any], *, helpers: Helpers | None = None,
            external: Mapping[str, Any] | None = None) -> None:
    """Run a script task's script in the sandbox; its assignments (and `del`s) update `data`, the task data.

    Functions the script defines, the helpers and `external` names are never copied into `data`. Assignments
    are applied only if the whole script succeeds (in-place changes to task-data lists and dicts are immediate).
    Raises SandboxError for a rule violation, TaskFailed if the script leaves a value task data cannot store;
    errors of the script itself propagate unchanged.
    """
    helpers = helpers or {}
    external = external or {}
    code, compiled = _compiled_or_raise(source, "exec")
    _check_helper_names(compiled, helpers, data, external)
    scope: dict[str, Any] = dict(helpers)
    scope.update(external)
    scope.update(data)
    scope.update(_RESERVED_GLOBALS)
    exec(code, scope)  # noqa: S102 - RestrictedPython-compiled code with guarded globals

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
        updates[name] = _to_task_data(value, name)
    removals += [name for name in data if not name.startswith("_") and name not in scope]
    for name in removals:
        del data[name]
    data.update(updates)


class SandboxedEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment that evaluates and executes through this module's sandbox.

    Like TaskDataEnvironment, the names visible to code are the helpers, the external context (data objects)
    and the task data; a task data key that hides a helper the code uses is an error, and helpers never end up
    in the task data.
    """

    def __init__(self, helpers: Helpers | None = None):
        super().__init__({})
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
        code, compiled = _compiled_or_raise(expression, "eval")
        _check_helper_names(compiled, self.helpers, context, external)
        scope: dict[str, Any] = dict(self.helpers)
        scope.update(external)
        scope.update(context)
        scope.update(_RESERVED_GLOBALS)
        result = eval(code, scope)  # noqa: S307 - RestrictedPython-compiled code with guarded globals
        # SpiffWorkflow's timers parse the value as a string (`.upper()`), and task data holds ISO text.
        if isinstance(result, (datetime, date)):
            return result.isoformat()
        return result

    def execute(self, script: str, context: dict[str, Any],
                external_context: Mapping[str, Any] | None = None) -> bool:
        execute(script, context, helpers=self.helpers, external=external_context)
        return True


def describe_error(exc: BaseException) -> str:
    """A one-line account of why an expression or script failed, for task errors and logs."""
    if isinstance(exc, CaseError):
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
        except SpiffWorkflowException as exc:
            exc.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as exc:
            raise WorkflowTaskException(f"Error evaluating expression '{expression}': {describe_error(exc)}",
                                        task=task, exception=exc) from exc

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.environment.execute(script, task.data, external_context or {})
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


def make_script_engine(helpers: Helpers) -> PythonScriptEngine:
    """The script engine every BpmnWorkflow of the engine must use: sandboxed, with the calendar helpers."""
    return SandboxedScriptEngine(environment=SandboxedEnvironment(helpers))
