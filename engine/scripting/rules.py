"""Static rules: what the parsed source may not contain (``_RuleChecker``) and what deploy can see of the limits
(``_LimitChecker``: constants too large to build, ``while True`` that never ends)."""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.scripting.limits import Limits, _binop_size
from engine.scripting.names import _FORMAT_ATTRIBUTES, _NAME_HINTS, FORBIDDEN_ATTRIBUTES, FORBIDDEN_NAMES
from engine.scripting.operators import _GUARDED_OPERATORS, _OPERATORS

JUEL_MESSAGE = "JUEL expressions are not supported; write a Python expression"

_MISSING = object()  # _LimitChecker._fold: not a constant


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
