"""Checking and compiling a source once per (source, mode, limits): the static rules, then RestrictedPython with
the budget's hooks (``_BudgetedPolicy``); and the deploy-time checks built on it."""
from __future__ import annotations

import ast
import functools
import logging
import textwrap
import warnings
from dataclasses import dataclass
from types import CodeType
from typing import Literal

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations

from engine.errors import SandboxError
from engine.scripting.limits import DEFAULT_LIMITS, Limits
from engine.scripting.operators import _GUARDED_OPERATORS
from engine.scripting.rules import (
    _JUEL,
    JUEL_MESSAGE,
    _format_problems,
    _LimitChecker,
    _Problem,
    _restricted_python_problems,
    _RuleChecker,
)

log = logging.getLogger("engine.scripting")

Mode = Literal["eval", "exec"]


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
def _compile(source: str, mode: Mode, limits: Limits = DEFAULT_LIMITS) -> _Compiled:
    """Check and compile once per (source, mode, limits): conditions are evaluated on every engine step.

    The limits are part of the key because the static limit check (_LimitChecker) depends on them."""
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
        limit_checker = _LimitChecker(limits)
        limit_checker.visit(tree)
        problems = sorted(limit_checker.problems, key=lambda p: (p.line or 0, p.end_column))
    problems += [_Problem(w.lineno, str(w.message)) for w in caught
                 if issubclass(w.category, (SyntaxWarning, DeprecationWarning))]
    if problems or result.code is None:
        return rejected(problems or [_Problem(None, "the code could not be compiled")], checker=checker, tree=tree)
    log.debug("compiled a %d-character %s source for the sandbox", len(text), mode)
    return _Compiled(result.code, (), None, False, frozenset(checker.names), frozenset(checker.stored), tree)


def _compiled_or_raise(source: str, mode: Mode, limits: Limits) -> tuple[CodeType, _Compiled]:
    compiled = _compile(source, mode, limits)
    if compiled.code is None:
        kind = "expression" if mode == "eval" else "script"
        # Source text comes from the BPMN file, not from task data, so it may be logged.
        log.warning("sandbox refused this %s: %s", kind, "; ".join(compiled.problems))
        raise SandboxError(f"{kind} not allowed: " + "; ".join(compiled.problems),
                           details={"problems": list(compiled.problems), "line": compiled.first_line})
    return compiled.code, compiled


def check_expression(source: str, *, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """Problems with a condition or other BPMN expression, phrased for a process designer; empty if it is fine."""
    return list(_compile(source, "eval", limits).problems)


def check_script(source: str, *, limits: Limits = DEFAULT_LIMITS) -> list[str]:
    """Problems with a script task's script, each with its line number; empty if it is fine."""
    return list(_compile(source, "exec", limits).problems)
