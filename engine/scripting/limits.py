"""The budget of one evaluation: CPU time, memory and output (see the package docstring for the mechanism).

``Limits`` is a plain value: each script engine (and each ``evaluate``/``execute`` call) carries its own, and
``_budgeted`` installs a fresh ``_Budget`` for it in a thread-local while sandboxed code runs. The run-time hooks
here (``_tick``, ``_charge``, ``_item``, ``_sized``, ``_guarded_getiter``) read only that budget, never a
module-global setting. The size estimates the budget charges (``_binop_size``, ``_json_size``) live here too.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import CodeType
from typing import Any, NoReturn


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

DEFAULT_LIMITS = Limits()  # what evaluate/execute/make_script_engine use when given no limits


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
