"""The operators and formats that can build a huge value (or a set) in one step: ``_binop_``, ``_inplacevar_``
and ``_format_`` (f-string fields), each sized against the budget before it computes."""
from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable, Iterable
from typing import Any

from engine.errors import SandboxError
from engine.scripting.limits import (
    MAX_FORMAT_WIDTH,
    _TEXT,
    _binop_size,
    _charge,
    _memory_error,
    _sized,
    _state,
)
from engine.scripting.values import StableFrozenSet, StableSet, _printable


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


_CONVERSIONS: dict[int, Callable[[Any], str]] = {-1: lambda v: v, ord("s"): str, ord("r"): repr, ord("a"): ascii}


def _format(value: Any, conversion: int, spec: str) -> str:
    """Each ``{value!conversion:spec}`` of an f-string: stable text, and no huge widths."""
    if spec:
        _check_widths(re.findall(r"\d+", spec), "an f-string's format")
    text = format(_CONVERSIONS[conversion](_printable(value)), spec)
    _charge(len(text) if len(text) > 1024 else 0, "an f-string builds too long a text")
    return text


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
