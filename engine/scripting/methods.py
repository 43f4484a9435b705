"""Budgeted versions of the str, list, dict and set methods that build a value much larger than their arguments;
``_guarded_getattr`` hands these out instead of the real methods (``_method_guard``)."""
from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable
from typing import Any

from engine.scripting.limits import _TEXT, _charge, _item_bytes, _sized, _tick


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
