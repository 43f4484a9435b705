"""The values scripts see: stable sets and text (determinism, issue 15 L6) and the budgeted stand-ins for the
builtins that build values (list, tuple, dict, str, sorted, round, sum/min/max/any/all) and for datetime/date,
which read the engine clock."""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import Any

from engine.clock import CHINA_TZ, current_now
from engine.scripting.limits import MAX_INT_BITS, _charge, _guarded_getiter, _json_size, _sized, _state


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
