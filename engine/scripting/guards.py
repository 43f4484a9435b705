"""The run-time guards RestrictedPython's compiled code calls, and the reserved globals that install them."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from RestrictedPython.Eval import default_guarded_getitem
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence, safer_getattr

from engine.errors import SandboxError
from engine.scripting.limits import _guarded_getiter, _item, _tick
from engine.scripting.methods import _METHOD_GUARDS, _method_guard
from engine.scripting.names import _BUILTINS, _FORMAT_ATTRIBUTES, FORBIDDEN_ATTRIBUTES
from engine.scripting.operators import _binop, _format, _inplacevar
from engine.scripting.values import _set_display


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
