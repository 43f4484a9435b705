"""The one place that decides what BPMN expressions and scripts may do: deploy-time checks and the run-time sandbox.

SpiffWorkflow 3.2 runs conditions, timer values and script tasks with plain ``eval``/``exec`` over the task data,
which is escapable (see DESIGN.md, "SpiffWorkflow 3.2 facts"). This module replaces that with two layers:

1. A static rule check on the parsed source (``check_expression``, ``check_script``, ``check_timer_expression``)
   whose messages are written for a process designer. The same check runs again before anything is compiled at
   run time, so a process that slipped past deployment still cannot run a forbidden construct.
2. RestrictedPython compilation with our own guards and a short list of builtins, so that even a construct the
   static check missed meets a guard (attribute access, writes, in-place operators) or a missing name.

Task data is JSON-ish (dict, list, str, numbers, bool, None); datetimes are stored as ISO strings.

Limits (issue 15, M1). RestrictedPython guards what code may *reach*, not what it may *cost*: ``while True: pass``,
``10**10**10`` or ``list(range(3*10**7))`` would spin or allocate inside the command's transaction (holding SQLite's
write lock). A worker process per evaluation would bound everything but costs milliseconds per condition on the hot
path, and ``resource`` limits are per process, not per thread of a web server. So the budget is enforced in-process,
by the code RestrictedPython already makes every script call, plus a few hooks of our own (``_BudgetedPolicy``,
a subclass of its RestrictingNodeTransformer):

* **CPU time** (``time.thread_time``, so other threads' work is not counted): every loop iteration (``_getiter_``
  meters ``for`` loops and comprehensions; ``while`` bodies, function bodies, lambdas and ``except`` blocks start
  with ``_tick_()``) counts a step, and every 64th step looks at the clock (see ``_Budget``: the monotonic clock,
  and the thread's CPU clock, a system call, only once wall time has passed the limit).
* **Memory**: the operators that can build a huge object in one bytecode (``+ * ** << %`` and their augmented
  forms) go through ``_binop_``, which computes the result's size *before* computing it; integers are capped at
  ``MAX_INT_BITS``. The builtins and methods that materialise (list, tuple, dict, set, sorted, sum/min/max over an
  iterable, str.join, ljust/center/zfill, replace, split, list.append/extend, dict.update...) charge their estimated
  size, and comprehensions charge each item. One evaluation may add at most the configured memory (an estimate of
  the bytes it adds, not the process's RSS, so a concurrent request never fails another and replay is repeatable).
* **Output**: the task data a script writes (and an expression's value) is measured before it is stored.

Exceeding a limit raises an internal BaseException (so ``except Exception`` in a script cannot swallow it; bare
``except:`` blocks re-raise it at their first ``_tick_()``), which leaves the sandbox as ``LimitExceeded``; the
command fails and its transaction rolls back. Constant cases (``10**10**10``, ``'x' * 10**10``, ``while True``
without ``break``/``return``/``raise``) are refused statically, at deploy. What stays out of reach: a single C-level
operation on data already within the memory budget (sorting it, comparing or hashing deeply shared structures)
runs to its end before the next check.

Determinism (issue 15, L6): replay must store what the first run stored, in any process. Sets built in the
sandbox (literals, comprehensions, ``set()``/``frozenset()`` and the results of their operators) iterate in a
stable sorted order, and functions print as ``<function name>`` instead of their memory address.
"""
from __future__ import annotations

import ast
import builtins
import functools
import keyword
import logging
import math
import operator
import re
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import CodeType
from typing import Any, Literal, NoReturn

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Eval import default_guarded_getitem
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence, safer_getattr
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer, copy_locations
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
    "int", "float", "str", "bool", "list", "dict", "set", "frozenset", "tuple", "range", "enumerate", "zip",
    "isinstance",
    # Exceptions let a script fail its task with a designer-written reason (raise ValueError("...")).
    "Exception", "ValueError", "KeyError", "IndexError", "TypeError", "ZeroDivisionError",
)


# --------------------------------------------------------------------------------------------------------------
# Limits: CPU time, memory and output size of one evaluation (see the module docstring for the mechanism).

@dataclass(frozen=True)
class Limits:
    """What one expression or script may use; built from EngineSettings (JIEFEN_SCRIPT_*)."""

    cpu_seconds: float = 1.0
    memory_mb: int = 64
    output_kb: int = 1024

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * 1024 * 1024

    @property
    def output_bytes(self) -> int:
        return self.output_kb * 1024


# Integers beyond this are refused whatever the memory limit: multiplying two of them stays in microseconds, and
# Python cannot print or store (JSON) an integer of more than 4,300 digits anyway.
MAX_INT_BITS = 1 << 16
# Widths and precisions in f-string and % formats ('%1000000000d'), which build a string of that size in one step.
MAX_FORMAT_WIDTH = 1000
_CHECK_EVERY = 64  # steps between two looks at the clock (see _Budget)

_limits = Limits()


def configure_limits(limits: Limits) -> None:
    """Install the limits every later evaluation uses (the runtime calls this once at start-up)."""
    global _limits
    if limits != _limits:
        _limits = limits
        _compile.cache_clear()  # the static checks depend on the limits


def current_limits() -> Limits:
    return _limits


class LimitExceeded(Exception):
    """An expression or script went over its CPU time, memory or output limit; the command is undone.

    Not a CaseError on purpose: callers that evaluate on behalf of an element (due dates, candidate groups) wrap
    plain exceptions with the element's id, and the script engine adds the element's id and name (``at``).
    """

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def at(self, element_id: str | None, name: str | None) -> LimitExceeded:
        label = f"{name} ({element_id})" if name and name != element_id else (element_id or name)
        return LimitExceeded(f"{label}: {self.message}") if label else self


class _Exhausted(BaseException):
    """Raised inside sandboxed code; a BaseException so that `except Exception:` in a script cannot catch it."""

    def __init__(self, error: LimitExceeded):
        super().__init__(error.message)
        self.error = error


def _cpu_error(limits: Limits) -> LimitExceeded:
    return LimitExceeded(f"脚本运行超时 / the code used more than its {limits.cpu_seconds:g} s of CPU time "
                         "(JIEFEN_SCRIPT_CPU_SECONDS); look for a loop that never ends")


def _memory_error(limits: Limits, what: str) -> LimitExceeded:
    return LimitExceeded(f"脚本占用内存超限 / the code needs more than its {limits.memory_mb} MB of memory "
                         f"(JIEFEN_SCRIPT_MEMORY_MB): {what}")


class _Budget:
    """The CPU time and the bytes one evaluation has used; the first overrun sticks.

    The thread's CPU clock is a system call (6 µs here, far more on a loaded virtual machine), the monotonic clock
    is not: the budget reads the wall clock at each check and the CPU clock only once the wall clock says the CPU
    limit may have passed (CPU time never runs ahead of wall time). Both are first read at the first check, so an
    evaluation without loops (nearly every condition) reads no clock at all; the few steps before it go uncounted.
    """

    __slots__ = ("limits", "cpu_start", "wall_deadline", "used", "steps", "exceeded")

    def __init__(self, limits: Limits):
        self.limits = limits
        self.cpu_start: float | None = None
        self.wall_deadline = 0.0
        self.used = 0
        self.steps = 0
        self.exceeded: LimitExceeded | None = None

    def check_time(self) -> None:
        if self.cpu_start is None:
            self.cpu_start = time.thread_time()
            self.wall_deadline = time.monotonic() + self.limits.cpu_seconds
        elif (time.monotonic() > self.wall_deadline
              and time.thread_time() - self.cpu_start > self.limits.cpu_seconds):
            self.fail(_cpu_error(self.limits))

    def fail(self, error: LimitExceeded) -> NoReturn:
        if self.exceeded is None:
            self.exceeded = error
        raise _Exhausted(self.exceeded)

    def tick(self) -> None:
        if self.exceeded is not None:
            raise _Exhausted(self.exceeded)
        self.steps += 1
        if not self.steps % _CHECK_EVERY:
            self.check_time()

    def charge(self, nbytes: int, what: str | Callable[[], str]) -> None:
        if self.exceeded is not None:
            raise _Exhausted(self.exceeded)
        self.used += nbytes
        limit = self.limits.memory_bytes
        if nbytes > limit or self.used > limit:
            self.fail(_memory_error(self.limits, what() if callable(what) else what))
        if nbytes > 65536:  # the large ones are the slow ones
            self.check_time()


class _State(threading.local):
    budget: _Budget | None = None


_state = _State()


def _budgeted(run: Callable[..., Any], code: CodeType, scope: dict[str, Any], limits: Limits) -> Any:
    """``run(code, scope)`` (eval or exec) under a fresh budget; an overrun leaves as LimitExceeded, even if the
    code caught it. A plain function rather than a context manager: it runs for every condition (~1 µs less)."""
    budget = _Budget(limits)
    previous = _state.budget
    _state.budget = budget
    try:
        result = run(code, scope)
    except _Exhausted as exc:
        raise exc.error from None
    finally:
        _state.budget = previous
    if budget.exceeded is not None:  # swallowed by the code (`return` inside `finally`): still a failure
        raise budget.exceeded
    return result


def _charge(nbytes: int, what: str | Callable[[], str]) -> None:
    budget = _state.budget
    if budget is not None:
        budget.charge(nbytes, what)


def _tick(value: Any = None) -> Any:
    """Inserted at the top of loop bodies, functions, lambdas (around their value) and except blocks."""
    budget = _state.budget
    if budget is not None:
        budget.tick()
    return value


def _metered(iterator: Iterator[Any], budget: _Budget, per_item: int = 0) -> Iterator[Any]:
    for item in iterator:
        # budget.tick(), inlined: this runs for every item of every loop
        if budget.exceeded is not None:
            raise _Exhausted(budget.exceeded)
        budget.steps += 1
        if not budget.steps % _CHECK_EVERY:
            budget.check_time()
        if per_item:
            budget.charge(per_item + sys.getsizeof(item), "an iteration builds too large a value")
        yield item


def _guarded_getiter(ob: Any) -> Any:
    """``for x in ob`` and comprehensions iterate ``_getiter_(ob)``: each item is a step of the CPU budget."""
    budget = _state.budget
    if budget is None:
        return ob
    return _metered(iter(ob), budget)


def _item(value: Any) -> Any:
    """Wraps each element a list, set or dict comprehension adds: a step, and its size."""
    budget = _state.budget
    if budget is not None:
        budget.tick()
        budget.charge(16 + sys.getsizeof(value), "a comprehension builds too large a value")
    return value


_SIZED = (str, list, tuple, dict, set, frozenset, range)
_TEXT = (str, bytes)  # bytes come from str.encode(); they have the same size-building methods
_SEQUENCES = (str, bytes, list, tuple)


def _item_bytes(seq: Any) -> int:
    """Bytes per item of a sequence when it is copied (pointers; one to four bytes per character of text)."""
    if isinstance(seq, str):
        return 1 if seq.isascii() else 4
    return 1 if isinstance(seq, bytes) else 8


def _sized(iterable: Any, what: str, per_item: int = 8) -> Any:
    """`iterable`, charged as materialised: by its length when it has one, else item by item as it is read."""
    budget = _state.budget
    if budget is None:
        return iterable
    if isinstance(iterable, _SIZED):
        count = len(iterable)
        # A range's or a string's items are new objects once materialised (ints of 28+ bytes, 1-char strings).
        extra = 32 if isinstance(iterable, (range, str)) else 0
        budget.charge(count * (per_item + extra), lambda: f"{what} of {count:,} items")
        return iterable
    return _metered(iter(iterable), budget, per_item)


def _int_bits_problem(bits: int, text: str) -> str | None:
    if bits > MAX_INT_BITS:
        return (f"{text} would be an integer of about {bits * 0.30103:,.0f} digits; at most "
                f"{MAX_INT_BITS * 0.30103:,.0f} are allowed")
    return None


def _binop_size(op: str, a: Any, b: Any) -> tuple[int, int, str | None]:
    """(bytes of the result, bytes it adds beyond its larger operand, refusal) of ``a op b``, before computing it.

    Sizes are estimates (pointers for lists, bytes for text); a refusal is an integer beyond MAX_INT_BITS."""
    int_a = isinstance(a, int) and not isinstance(a, bool)
    int_b = isinstance(b, int) and not isinstance(b, bool)
    if op == "*":
        if int_a and int_b:
            bits = a.bit_length() + b.bit_length()
            return bits // 8, bits // 8, _int_bits_problem(bits, "the product")
        seq, times = (a, b) if int_b or isinstance(b, bool) else (b, a)
        if isinstance(seq, _SEQUENCES) and isinstance(times, int):
            per = _item_bytes(seq)
            size = len(seq) * max(times, 0) * per
            return size, size - len(seq) * per, None
    elif op == "**":
        if int_a and int_b and b > 0 and abs(a) > 1:
            bits = int(min(b, 10 ** 300) * math.log2(abs(a))) + 1
            return bits // 8, bits // 8, _int_bits_problem(bits, f"{a} ** {b}")
    elif op == "<<":
        if int_a and int_b and b > 0:
            bits = a.bit_length() + b
            return bits // 8, bits // 8, _int_bits_problem(bits, f"... << {b}")
    elif op == "+":
        if isinstance(a, _SEQUENCES) and type(a) is type(b):
            per = max(_item_bytes(a), _item_bytes(b))
            size = (len(a) + len(b)) * per
            return size, min(len(a), len(b)) * per, None
    return 0, 0, None


_FORMAT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_widths(numbers: Iterable[str], where: str) -> None:
    for number in numbers:
        if number == "*":
            raise SandboxError(f"'*' widths are not allowed in {where}; write the width as a number")
        if number and int(number) > MAX_FORMAT_WIDTH:
            raise SandboxError(f"the width or precision {number} in {where} is too large; at most "
                               f"{MAX_FORMAT_WIDTH} is allowed")


def _binop(op: str, a: Any, b: Any) -> Any:
    """``a op b`` for the operators that can build a huge value or a set in one step (see _GUARDED_OPERATORS)."""
    budget = _state.budget
    if budget is not None and not (op in _SMALL_RESULTS and type(a) in _NUMBERS and type(b) in _NUMBERS):
        if op == "%" and isinstance(a, _TEXT):
            pattern = a if isinstance(a, str) else a.decode("latin-1")
            _check_widths((n for match in _FORMAT_SPEC.finditer(pattern) for n in match.groups()), "a % format")
            b = _printable(b)
        else:
            size, added, refusal = _binop_size(op, a, b)
            if refusal:
                budget.fail(_memory_error(budget.limits, refusal))
            if size > budget.limits.memory_bytes:
                budget.fail(_memory_error(budget.limits, f"the result of '{op}' would be {size:,} bytes"))
            if added:
                budget.charge(added, lambda: f"the result of '{op}' would be {size:,} bytes")
    result = _OPERATORS[op](a, b)
    if type(result) is set:  # dict views: d.keys() & other
        return StableSet(result)
    if type(result) is frozenset:
        return StableFrozenSet(result)
    return result


_NUMBERS = frozenset({int, float, bool})
_SMALL_RESULTS = frozenset({"+", "-", "%", "|", "&", "^"})  # on numbers: no larger than the operands, no sets
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add, "-": operator.sub, "*": operator.mul, "**": operator.pow, "<<": operator.lshift,
    "%": operator.mod, "|": operator.or_, "&": operator.and_, "^": operator.xor,
}
_GUARDED_OPERATORS: dict[type[ast.operator], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Pow: "**", ast.LShift: "<<", ast.Mod: "%",
    ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^",
}


def _stable_key(value: Any) -> tuple:
    """A sort key that orders any set member the same way in every process (no hash, no address)."""
    if isinstance(value, (bool, int, float)):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    if value is None:
        return (2,)
    if isinstance(value, tuple):
        return (3, tuple(_stable_key(item) for item in value))
    if isinstance(value, frozenset):
        return (4, tuple(sorted(_stable_key(item) for item in frozenset.__iter__(value))))
    if callable(value):
        return (5, _printed_name(value))
    return (6, type(value).__name__, repr(value))


def _sorted_members(members: Iterable[Any]) -> list[Any]:
    return sorted(members, key=_stable_key)


class _StableSetMixin:
    """Iteration, printing and pop() in _stable_key order; operators keep the class."""

    def __iter__(self) -> Iterator[Any]:
        return iter(_sorted_members(self._base.__iter__(self)))  # type: ignore[attr-defined]

    def __repr__(self) -> str:
        if not self:
            return f"{self._name}()"  # type: ignore[attr-defined]
        return "{" + ", ".join(repr(_stable(item)) for item in self) + "}"


def _keep_class(name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any) -> Any:
        result = getattr(self._base, name)(self, *args)
        return type(self)(result) if isinstance(result, (set, frozenset)) else result
    method.__name__ = name
    return method


_SET_RESULTS = ("__or__", "__ror__", "__and__", "__rand__", "__sub__", "__rsub__", "__xor__", "__rxor__",
                "union", "intersection", "difference", "symmetric_difference", "copy")


class StableSet(_StableSetMixin, set):
    """``set`` as scripts see it: iterates sorted, so `list({'b', 'a'})` is the same list in every process."""

    _base = set
    _name = "set"

    def __init__(self, iterable: Iterable[Any] = ()):
        super().__init__(_sized(iterable, "set()"))

    def pop(self) -> Any:
        if not self:
            raise KeyError("pop from an empty set")
        item = next(iter(self))
        self.remove(item)
        return item

    for _name_ in _SET_RESULTS:
        locals()[_name_] = _keep_class(_name_)
    del _name_


class StableFrozenSet(_StableSetMixin, frozenset):
    """``frozenset`` as scripts see it (see StableSet)."""

    _base = frozenset
    _name = "frozenset"

    def __new__(cls, iterable: Iterable[Any] = ()) -> StableFrozenSet:
        return super().__new__(cls, _sized(iterable, "frozenset()"))

    for _name_ in _SET_RESULTS:
        locals()[_name_] = _keep_class(_name_)
    del _name_


def _set_display(value: set) -> StableSet:
    """Set literals and set comprehensions compile to ``_set_({...})``."""
    return StableSet(value)


class _PrintedAs:
    """Stands in for a function when a value is turned into text: a name instead of a memory address."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def _printed_name(value: Any) -> str:
    real = getattr(value, "_real", value)
    return getattr(real, "__name__", None) or type(value).__name__


def _has_callable(value: Any, seen: set[int]) -> bool:
    if callable(value):
        return True
    if isinstance(value, (list, tuple, dict)) and id(value) not in seen:
        seen.add(id(value))
        items = value.items() if isinstance(value, dict) else enumerate(value)
        return any(_has_callable(k, seen) or _has_callable(v, seen) for k, v in items)
    return False


def _stable(value: Any) -> Any:
    """`value` as it should be turned into text: functions (also inside lists, tuples and dicts) by name only."""
    if type(value) in (str, int, float, bool) or value is None:
        return value
    if callable(value):
        kind = "class" if isinstance(value, type) else "function"
        return _PrintedAs(f"<{kind} {_printed_name(value)}>")
    if isinstance(value, (list, tuple, dict)) and _has_callable(value, set()):
        if isinstance(value, dict):
            return {_stable(k): _stable(v) for k, v in value.items()}
        items = [_stable(item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    return value


def _printable(value: Any) -> Any:
    """`value` about to become text: stable (see _stable), and refused when its text would pass the memory
    budget (a list holding one list a thousand times prints it a thousand times)."""
    if isinstance(value, (list, tuple, dict, set, frozenset)):
        budget = _state.budget
        if budget is not None:
            size = _json_size(value, budget.limits.memory_bytes)
            if size > 1024:
                budget.charge(size, lambda: f"its text would be {size:,} bytes or more")
    return _stable(value)


_CONVERSIONS: dict[int, Callable[[Any], str]] = {-1: lambda v: v, ord("s"): str, ord("r"): repr, ord("a"): ascii}


def _format(value: Any, conversion: int, spec: str) -> str:
    """Each ``{value!conversion:spec}`` of an f-string: stable text, and no huge widths."""
    if spec:
        _check_widths(re.findall(r"\d+", spec), "an f-string's format")
    text = format(_CONVERSIONS[conversion](_printable(value)), spec)
    _charge(len(text) if len(text) > 1024 else 0, "an f-string builds too long a text")
    return text


class _GuardedClassMeta(type):
    """Makes a stand-in class act like the real one for calls, isinstance() and class attributes.

    The stand-ins for datetime/date read the engine clock (a replayed case must see the time of its command, not
    the wall clock); those for list/tuple/dict/str charge the memory budget. Every value they produce is a plain
    instance of the real class."""

    _real: type

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        make = cls.__dict__.get("_make")
        if make is not None:
            return make.__func__(*args, **kwargs)
        return cls._real(*args, **kwargs)

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls._real)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._real, name)


class _SizedList(metaclass=_GuardedClassMeta):
    _real = list

    @staticmethod
    def _make(iterable: Iterable[Any] = ()) -> list:
        return list(_sized(iterable, "list()"))


class _SizedTuple(metaclass=_GuardedClassMeta):
    _real = tuple

    @staticmethod
    def _make(iterable: Iterable[Any] = ()) -> tuple:
        return tuple(_sized(iterable, "tuple()"))


class _SizedDict(metaclass=_GuardedClassMeta):
    _real = dict

    @staticmethod
    def _make(*args: Any, **kwargs: Any) -> dict:
        if args:
            source = args[0]
            if hasattr(source, "keys"):
                _charge(40 * len(source), "dict() of too many items")
            else:
                args = (_sized(source, "dict()", 40), *args[1:])
        return dict(*args, **kwargs)


class _StableStr(metaclass=_GuardedClassMeta):
    _real = str

    @staticmethod
    def _make(*args: Any, **kwargs: Any) -> str:
        if len(args) == 1 and not kwargs:
            text = str(_printable(args[0]))
            _charge(len(text) if len(text) > 1024 else 0, "str() builds too long a text")
            return text
        return str(*args, **kwargs)


def _sorted(iterable: Iterable[Any], /, *, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> list:
    return sorted(_sized(iterable, "sorted()"), key=key, reverse=reverse)


_sorted.__name__ = _sorted.__qualname__ = "sorted"  # as scripts see it (printed as <function sorted>)


def _round(number: Any, ndigits: int | None = None) -> Any:
    # round(5, -10**9) computes 10**(10**9) inside CPython; an int of at most MAX_INT_BITS rounds to 0 well before.
    if isinstance(number, int) and isinstance(ndigits, int) and ndigits < -MAX_INT_BITS:
        return 0
    return round(number) if ndigits is None else round(number, ndigits)


_round.__name__ = _round.__qualname__ = "round"


def _metered_builtin(func: Callable[..., Any]) -> Callable[..., Any]:
    """sum/min/max/any/all read their iterable in C; route it through the step counter."""

    @functools.wraps(func)
    def metered(*args: Any, **kwargs: Any) -> Any:
        if len(args) == 1:
            args = (_guarded_getiter(args[0]),)
        elif func is sum and len(args) == 2:
            args = (_guarded_getiter(args[0]), args[1])
        return func(*args, **kwargs)
    return metered


# Methods that build a value much larger than their arguments: each charges its result's size first.

def _pad(name: str) -> Callable[..., Any]:
    def padded(text: str, width: int, *args: Any) -> str:
        if isinstance(width, int) and width > len(text):
            _charge(width * _item_bytes(text), lambda: f"str.{name}({width:,})")
        return getattr(type(text), name)(text, width, *args)
    return padded


def _expandtabs(text: str, tabsize: int = 8) -> str:
    if isinstance(tabsize, int) and tabsize > 1:
        _charge(text.count("\t" if isinstance(text, str) else b"\t") * tabsize, lambda: f"str.expandtabs({tabsize:,})")
    return text.expandtabs(tabsize)


def _replace(text: str, old: str, new: str, count: int = -1) -> str:
    if isinstance(old, _TEXT) and isinstance(new, _TEXT) and len(new) > len(old):
        hits = len(text) + 1 if not old else text.count(old)
        if count >= 0:
            hits = min(hits, count)
        _charge(hits * (len(new) - len(old)) * _item_bytes(new), lambda: "str.replace() builds too long a text")
    return text.replace(old, new, count)


def _join(separator: str, iterable: Iterable[Any]) -> str:
    items = iterable if isinstance(iterable, (list, tuple)) else list(_sized(iterable, "str.join()"))
    if isinstance(separator, _TEXT):
        size = sum(len(item) for item in items if isinstance(item, _TEXT)) + len(separator) * max(len(items) - 1, 0)
        _charge(size * _item_bytes(separator) if size > 1024 else 0, lambda: f"str.join() of {size:,} characters")
    return separator.join(items)


def _split(name: str) -> Callable[..., Any]:
    def split(text: str, *args: Any, **kwargs: Any) -> list:
        separator = args[0] if args else kwargs.get("sep")
        separator = separator if isinstance(separator, _TEXT) and separator and name != "splitlines" else None
        pieces = text.count(separator) + 1 if separator is not None else len(text) // 2 + 1
        _charge(pieces * 64 if pieces > 16 else 0, lambda: f"str.{name}() into {pieces:,} pieces")
        return getattr(type(text), name)(text, *args, **kwargs)
    return split


def _append(name: str) -> Callable[..., Any]:
    def append(target: list, *args: Any) -> None:
        _tick()
        _charge(8 + sys.getsizeof(args[-1]) if args else 0, f"list.{name}() builds too long a list")
        return getattr(list, name)(target, *args)
    return append


def _extend(target: list, iterable: Iterable[Any]) -> None:
    target.extend(_sized(iterable, "list.extend()"))


def _copy(base: type) -> Callable[..., Any]:
    def copy(target: Any) -> Any:
        _charge(40 * len(target), f"{base.__name__}.copy()")
        return base.copy(target)
    return copy


def _update(base: type) -> Callable[..., Any]:
    def update(target: Any, *args: Any, **kwargs: Any) -> Any:
        args = tuple(_sized(arg, f"{base.__name__}.update()", 40) for arg in args)
        _charge(40 * len(kwargs), f"{base.__name__}.update()")
        return base.update(target, *args, **kwargs)
    return update


def _setdefault(target: dict, key: Any, default: Any = None) -> Any:
    _charge(40 + sys.getsizeof(default), "dict.setdefault() builds too large a dict")
    return target.setdefault(key, default)


def _add(target: set, item: Any) -> None:
    _tick()
    _charge(40 + sys.getsizeof(item), "set.add() builds too large a set")
    target.add(item)


def _fromkeys(iterable: Iterable[Any], value: Any = None) -> dict:
    return dict.fromkeys(_sized(iterable, "dict.fromkeys()", 40), value)


_METHOD_GUARDS: dict[str, tuple[tuple[type, Callable[..., Any]], ...]] = {
    "ljust": ((_TEXT, _pad("ljust")),), "rjust": ((_TEXT, _pad("rjust")),), "center": ((_TEXT, _pad("center")),),
    "zfill": ((_TEXT, _pad("zfill")),), "expandtabs": ((_TEXT, _expandtabs),), "replace": ((_TEXT, _replace),),
    "join": ((_TEXT, _join),), "split": ((_TEXT, _split("split")),), "rsplit": ((_TEXT, _split("rsplit")),),
    "splitlines": ((_TEXT, _split("splitlines")),),
    "append": ((list, _append("append")),), "insert": ((list, _append("insert")),), "extend": ((list, _extend),),
    "copy": ((list, _copy(list)), (dict, _copy(dict))),
    "update": ((dict, _update(dict)), (set, _update(set))),
    "setdefault": ((dict, _setdefault),), "add": ((set, _add),), "fromkeys": ((dict, _fromkeys),),
}


def _method_guard(obj: Any, name: str, value: Any) -> Any:
    """The budgeted version of ``obj.name`` when it is one of _METHOD_GUARDS, else `value` unchanged."""
    real = getattr(obj, "_real", obj)  # the stand-ins: str.join(',', items) is _StableStr's attribute
    for base, guard in _METHOD_GUARDS.get(name, ()):
        if isinstance(obj, base) and name != "fromkeys":
            return functools.partial(guard, obj)
        if isinstance(real, type) and issubclass(real, base):
            return guard  # the class's function, called with the instance first
    return value


def _json_size(value: Any, limit: int) -> int:
    """About how many bytes `value` takes as stored JSON, counting shared parts once per reference (as JSON
    repeats them) but walking each only once; stops early beyond `limit`."""
    if isinstance(value, str):
        return len(value) + 2 if value.isascii() else 3 * len(value) + 2
    if not isinstance(value, (list, tuple, dict, set, frozenset)):
        return 24
    sizes: dict[int, int] = {}

    def size(item: Any) -> int:
        if isinstance(item, str):
            return len(item) + 2 if item.isascii() else 3 * len(item) + 2
        if isinstance(item, (list, tuple, dict, set, frozenset)):
            known = sizes.get(id(item))
            if known is not None:
                return known
            sizes[id(item)] = 0  # a container that contains itself: _to_task_data refuses it
            total = 2
            if isinstance(item, (set, frozenset)):  # their own order, not StableSet's sorted one
                members = set.__iter__(item) if isinstance(item, set) else frozenset.__iter__(item)
                children: Iterable[tuple[Any, Any]] = enumerate(members)
            else:
                children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                total += (size(key) + 1 if isinstance(item, dict) else 0) + size(child) + 1
                if total > limit:
                    break
            sizes[id(item)] = total
            return total
        return 24
    return size(value)


def _output_error(limits: Limits, size: int, what: str) -> LimitExceeded:
    return LimitExceeded(f"脚本输出超限 / {what} is {size // 1024:,} KB or more; at most {limits.output_kb:,} KB "
                         "are allowed (JIEFEN_SCRIPT_OUTPUT_KB)")


class SandboxDatetime(metaclass=_GuardedClassMeta):
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


class SandboxDate(metaclass=_GuardedClassMeta):
    """``date`` as scripts see it: today() is the China date of the engine clock."""

    _real = date

    @staticmethod
    def today() -> date:
        return current_now().astimezone(CHINA_TZ).date()


# RestrictedPython's vetted objects where it has them, the plain builtin otherwise (its guarded variants of
# min/max/list... live in Zope's AccessControl; here all values are plain task data, so the originals are fine).
_BUILTINS: dict[str, Any] = {name: safe_builtins[name] if name in safe_builtins else getattr(builtins, name)
                             for name in _BUILTIN_NAMES}
_BUILTINS.update({"datetime": SandboxDatetime, "date": SandboxDate, "timedelta": timedelta,
                  # The budgeted and deterministic stand-ins (see "Limits" above).
                  "list": _SizedList, "tuple": _SizedTuple, "dict": _SizedDict, "str": _StableStr,
                  "set": StableSet, "frozenset": StableFrozenSet, "sorted": _sorted, "round": _round,
                  **{name: _metered_builtin(getattr(builtins, name)) for name in ("sum", "min", "max", "any", "all")}})

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
    if name in _METHOD_GUARDS:
        return _method_guard(obj, name, value)
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
    if op[:-1] not in _OPERATORS:
        return func(target, value)
    if isinstance(target, (list, set, dict)):  # changed in place: charge what it adds
        if op == "*=" and isinstance(value, int) and isinstance(target, list):
            _charge(8 * len(target) * max(value - 1, 0), lambda: f"list *= {value:,}")
        elif op in ("+=", "|="):
            value = _sized(value, f"'{op}'")
        return func(target, value)
    return _binop(op[:-1], target, value)


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``f(*args, **kwargs)`` compiles to ``_apply_(f, *args, **kwargs)``; arguments are plain data here."""
    return func(*args, **kwargs)


# Put into the globals *after* task data, so a data key such as "_getattr_" can never replace a guard.
_RESERVED_GLOBALS: dict[str, Any] = {
    "__builtins__": _BUILTINS,
    "_getattr_": _guarded_getattr,
    "_getitem_": default_guarded_getitem,
    "_getiter_": _guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": _guarded_write,
    "_inplacevar_": _inplacevar,
    "_apply_": _apply,
    "_tick_": _tick,
    "_item_": _item,
    "_binop_": _binop,
    "_set_": _set_display,
    "_format_": _format,
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


def _call(name: str, args: list[ast.expr], like: ast.AST) -> ast.Call:
    call = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    copy_locations(call, like)
    return ast.fix_missing_locations(call)


def _tick_statement(like: ast.AST) -> ast.Expr:
    statement = ast.Expr(_call("_tick_", [], like))
    copy_locations(statement, like)
    return statement


class _BudgetedPolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus the hooks of the budget and of stable sets and text (module docstring).

    Each hook is added after RestrictedPython has visited the node, so its checks never see our guard names."""

    def visit_While(self, node: ast.While) -> ast.AST:
        node = super().visit_While(node)
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node = super().visit_FunctionDef(node)
        node.body.insert(0, _tick_statement(node))
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        node = super().visit_ExceptHandler(node)
        node.body.insert(0, _tick_statement(node))  # a bare `except:` re-raises an overrun here
        return node

    def visit_Lambda(self, node: ast.Lambda) -> ast.AST:
        node = super().visit_Lambda(node)
        node.body = _call("_tick_", [node.body], node.body)
        return node

    def visit_ListComp(self, node: ast.ListComp) -> ast.AST:
        node = super().visit_ListComp(node)
        node.elt = _call("_item_", [node.elt], node.elt)
        return node

    def visit_SetComp(self, node: ast.SetComp) -> ast.AST:
        node = super().visit_SetComp(node)
        node.elt = _call("_item_", [node.elt], node.elt)
        return _call("_set_", [node], node)

    def visit_DictComp(self, node: ast.DictComp) -> ast.AST:
        node = super().visit_DictComp(node)
        node.value = _call("_item_", [node.value], node.value)
        return node

    def visit_Set(self, node: ast.Set) -> ast.AST:
        node = super().visit_Set(node)
        return _call("_set_", [node], node)

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = super().visit_BinOp(node)
        symbol = _GUARDED_OPERATORS.get(type(node.op))
        if symbol is None:
            return node
        return _call("_binop_", [ast.Constant(symbol), node.left, node.right], node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        node = super().visit_FormattedValue(node)
        spec = node.format_spec if node.format_spec is not None else ast.Constant("")
        value = _call("_format_", [node.value, ast.Constant(node.conversion), spec], node)
        formatted = ast.FormattedValue(value=value, conversion=-1, format_spec=None)
        copy_locations(formatted, node)
        return formatted


_MATERIALISERS = frozenset({"list", "tuple", "set", "frozenset", "sorted", "dict"})


class _LimitChecker(ast.NodeVisitor):
    """What deploy can see of the limits: constant values too large to build, `while True` that never ends."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.problems: list[_Problem] = []
        self.loops: list[ast.While] = []

    def _add(self, node: ast.AST, message: str) -> None:
        problem = _Problem(getattr(node, "lineno", None), message, getattr(node, "end_col_offset", None) or 0)
        if problem not in self.problems:  # a nested part is folded again when its parent is visited
            self.problems.append(problem)

    def _fold(self, node: ast.AST) -> Any:
        """The value of a constant expression (numbers, short text, lists of constants), or _MISSING; reports a
        part too large to build."""
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self._fold(node.operand)
            return -value if isinstance(node.op, ast.USub) and isinstance(value, (int, float)) else value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [self._fold(item) for item in node.elts]
            return _MISSING if any(item is _MISSING for item in items) else items
        if isinstance(node, ast.BinOp):
            symbol = _GUARDED_OPERATORS.get(type(node.op))
            left, right = self._fold(node.left), self._fold(node.right)
            if symbol is None or left is _MISSING or right is _MISSING or symbol == "%":
                return _MISSING
            size, _, refusal = _binop_size(symbol, left, right)
            if refusal or size > self.limits.memory_bytes:
                self._add(node, f"'{ast.unparse(node)}' is too large to compute: "
                          + (refusal or f"it would take {size:,} bytes, more than the {self.limits.memory_mb} MB "
                                        "a script may use (JIEFEN_SCRIPT_MEMORY_MB)"))
                return _MISSING
            if size > 4096:
                return _MISSING  # fine, but not worth building here
            try:
                return _OPERATORS[symbol](left, right)
            except Exception:  # noqa: BLE001 - 1/0, 'a' - 'b': the run time reports those
                return _MISSING
        return _MISSING

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if self._fold(node) is _MISSING:
            self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        # list(range(30000000)): a materialised constant range
        if (isinstance(node.func, ast.Name) and node.func.id in _MATERIALISERS and len(node.args) == 1
                and isinstance(node.args[0], ast.Call) and isinstance(node.args[0].func, ast.Name)
                and node.args[0].func.id == "range" and node.args[0].args):
            bounds = [self._fold(arg) for arg in node.args[0].args]
            if all(isinstance(b, int) for b in bounds):
                count = len(range(*bounds)) if len(bounds) <= 3 and (len(bounds) < 3 or bounds[2]) else 0
                if count * 40 > self.limits.memory_bytes:
                    self._add(node, f"'{ast.unparse(node)}' is too large to build: {count:,} items take more "
                                    f"than the {self.limits.memory_mb} MB a script may use (JIEFEN_SCRIPT_MEMORY_MB)")
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        test = node.test
        if isinstance(test, ast.Constant) and test.value and not _leaves(node.body, loop_level=True):
            self._add(node, f"'while {ast.unparse(test)}' never ends: it has no break, return or raise (the "
                            f"sandbox would stop it after {self.limits.cpu_seconds:g} s of CPU time)")
        self.generic_visit(node)


def _leaves(statements: list[ast.stmt], loop_level: bool) -> bool:
    """Whether a loop body has a way out: break (of this loop), return or raise."""
    for statement in statements:
        for node in _walk_same_function(statement):
            if isinstance(node, (ast.Return, ast.Raise)):
                return True
            if isinstance(node, ast.Break) and _break_is_ours(statement, node):
                return True
    return False


def _walk_same_function(node: ast.AST) -> Iterator[ast.AST]:
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            yield from _walk_same_function(child)


def _break_is_ours(statement: ast.AST, target: ast.Break) -> bool:
    """True unless `target` sits inside a nested loop of `statement`."""
    if statement is target:
        return True
    if isinstance(statement, (ast.For, ast.While, ast.AsyncFor)):
        return any(target is node for branch in statement.orelse for node in ast.walk(branch))
    return any(_break_is_ours(child, target) for child in ast.iter_child_nodes(statement)
               if any(target is node for node in ast.walk(child)))


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

        result = (compile_restricted_eval if mode == "eval" else compile_restricted_exec)(text,
                                                                                        policy=_BudgetedPolicy)
    problems = _restricted_python_problems(result.errors)
    if not problems:
        limit_checker = _LimitChecker(_limits)
        limit_checker.visit(tree)
        problems = sorted(limit_checker.problems, key=lambda p: (p.line or 0, p.end_column))
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


def evaluate(source: str, names: Mapping[str, Any]) -> Any:
    """Evaluate a BPMN expression in the sandbox; `names` are every name it may read (task data and helpers).

    Raises SandboxError if the expression breaks the sandbox rules; errors of the expression itself (NameError,
    ZeroDivisionError...) propagate unchanged.
    """
    code, _ = _compiled_or_raise(source, "eval")
    scope = dict(names)
    scope.update(_RESERVED_GLOBALS)
    return _run_eval(code, scope)


def _run_eval(code: CodeType, scope: dict[str, Any]) -> Any:
    """Evaluate under the budget; the value is measured as output too (a list an expression builds)."""
    limits = _limits
    result = _budgeted(eval, code, scope, limits)  # RestrictedPython-compiled code with guarded globals
    if not isinstance(result, (bool, int, float)) and result is not None:
        size = _json_size(result, limits.output_bytes)
        if size > limits.output_bytes:
            raise _output_error(limits, size, "the expression's value")
    return result


def execute(source: str, data: MutableMapping[str, Any], *, helpers: Helpers | None = None,
            external: Mapping[str, Any] | None = None) -> None:
    """Run a script task's script in the sandbox; its assignments (and `del`s) update `data`, the task data.

    Functions the script defines, the helpers and `external` names are never copied into `data`. Assignments
    are applied only if the whole script succeeds (in-place changes to task-data lists and dicts are immediate).
    Raises SandboxError for a rule violation, LimitExceeded when it uses more CPU time, memory or output than
    `current_limits()` allow, TaskFailed if the script leaves a value task data cannot store; errors of the
    script itself propagate unchanged.
    """
    helpers = helpers or {}
    external = external or {}
    code, compiled = _compiled_or_raise(source, "exec")
    _check_helper_names(compiled, helpers, data, external)
    scope: dict[str, Any] = dict(helpers)
    scope.update(external)
    scope.update(data)
    scope.update(_RESERVED_GLOBALS)
    limits = _limits
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
        result = _run_eval(code, scope)
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


def make_script_engine(helpers: Helpers) -> PythonScriptEngine:
    """The script engine every BpmnWorkflow of the engine must use: sandboxed, with the calendar helpers."""
    return SandboxedScriptEngine(environment=SandboxedEnvironment(helpers))
