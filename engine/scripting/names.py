"""The names and attributes scripts may not use, and the builtins they get."""
from __future__ import annotations

import builtins
from datetime import timedelta
from typing import Any

from RestrictedPython import safe_builtins
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from engine.scripting.values import (
    SandboxDate,
    SandboxDatetime,
    StableFrozenSet,
    StableSet,
    _metered_builtin,
    _round,
    _SizedDict,
    _SizedList,
    _SizedTuple,
    _sorted,
    _StableStr,
)


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
