"""JUEL (`${…}`, Camunda 7's expression language) → the sandbox's Python, for the safe subset designers' files use.

Camunda Modeler writes conditions and task attributes in JUEL: `${approved}`, `${amount > 1000}`,
`${!rejected && tier == 'major'}`, `assignee="${initiator}"`. Such a value is translated once, when the file is
loaded for a deploy, into the Python expression the engine evaluates (and that engine.scripting then checks like
any other): the stored XML stays the designer's, the spec runs the translation.

The subset: variables; literals (numbers, 'strings' / "strings", true, false, null); comparisons (== != < > <= >=
and eq ne lt gt le ge); && || ! and or not; empty; + - * / div % mod and unary minus; ( ); a ? b : c. Anything
else — a property or method (`order.amount`, `bean.call()`), `execution.…`, an index, composite text
("Hello ${name}") — is refused with the construct named (JuelError), and the value is left for the designer's
check to report.

Hand-written (a tokenizer and a recursive-descent parser, ~150 lines) because no maintained Python package parses
JUEL, and the subset must map onto the sandbox's expressions exactly, not onto a general evaluator.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from lxml import etree

from engine.specs.xmldoc import BPMN_NS, CAMUNDA_NS

SUBSET = ("jiefen translates JUEL variables, literals, comparisons, && || !, and/or/not, empty, arithmetic and "
          "a ? b : c")


class JuelError(ValueError):
    """A JUEL value outside the subset: the message names the construct."""


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>\d+\.\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<op>==|!=|<=|>=|&&|\|\||[<>!+\-*/%?:()\[\].,{}])
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
""", re.VERBOSE)

_WORD_OPS = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "and": "&&", "or": "||",
             "not": "!", "div": "/", "mod": "%"}
_LITERALS = {"true": "True", "false": "False", "null": "None"}
_RESERVED = {"instanceof"}


@dataclass
class _Tok:
    kind: str  # number | string | op | name | end
    text: str


def _tokens(src: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            raise JuelError(f"the character {src[pos]!r} is not part of the JUEL subset ({SUBSET})")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        text = m.group()
        if kind == "name" and text in _WORD_OPS:
            kind, text = "op", _WORD_OPS[text]
        elif kind == "name" and text == "empty":
            kind = "op"
        out.append(_Tok(kind, text))
    out.append(_Tok("end", ""))
    return out


def _string(text: str) -> str:
    body = text[1:-1]
    value = re.sub(r"\\(.)", r"\1", body)  # JUEL escapes: \' \" \\
    return repr(value)


class _Parser:
    def __init__(self, src: str):
        self.toks = _tokens(src)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, *ops: str) -> str | None:
        tok = self.peek()
        if tok.kind == "op" and tok.text in ops:
            self.i += 1
            return tok.text
        return None

    def parse(self) -> str:
        out = self.ternary()
        if self.peek().kind != "end":
            raise JuelError(f"unexpected {self.peek().text!r} ({SUBSET})")
        return out

    def ternary(self) -> str:
        cond = self.binary(0)
        if self.accept("?"):
            yes = self.ternary()
            if not self.accept(":"):
                raise JuelError("a ? b : c is missing its ':'")
            no = self.ternary()
            return f"({yes} if {cond} else {no})"
        return cond

    _LEVELS = (("||",), ("&&",), ("==", "!="), ("<", ">", "<=", ">="), ("+", "-"), ("*", "/", "%"))
    _PY: ClassVar[dict[str, str]] = {"||": "or", "&&": "and"}

    def binary(self, level: int) -> str:
        if level == len(self._LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while (op := self.accept(*self._LEVELS[level])) is not None:
            right = self.binary(level + 1)
            left = f"({left} {self._PY.get(op, op)} {right})"
        return left

    def unary(self) -> str:
        if self.accept("!"):
            return f"(not {self.unary()})"
        if self.accept("-"):
            return f"(-{self.unary()})"
        if self.accept("empty"):
            x = self.unary()
            return f"({x} is None or {x} == '' or {x} == [] or {x} == {{}})"
        return self.primary()

    def primary(self) -> str:
        tok = self.take()
        if tok.kind == "number":
            return tok.text
        if tok.kind == "string":
            return _string(tok.text)
        if tok.kind == "op" and tok.text == "(":
            inner = self.ternary()
            if not self.accept(")"):
                raise JuelError("a '(' is not closed")
            return f"({inner})"
        if tok.kind == "name":
            if tok.text in _LITERALS:
                return _LITERALS[tok.text]
            if tok.text in _RESERVED:
                raise JuelError(f"'{tok.text}' is outside the JUEL subset ({SUBSET})")
            nxt = self.peek()
            if nxt.kind == "op" and nxt.text == "(":
                raise JuelError(f"a function call ({tok.text}(…)) is outside the JUEL subset ({SUBSET}); call a "
                                "jiefen helper in a Python expression instead")
            if nxt.kind == "op" and nxt.text in (".", "["):
                if tok.text == "execution":
                    raise JuelError("execution.… reaches Camunda's Java objects, which jiefen does not have; use "
                                    "the case's variables")
                raise JuelError(f"a property, method or index ({tok.text}{nxt.text}…) is outside the JUEL subset "
                                f"({SUBSET}); use a plain variable")
            if "$" in tok.text:
                raise JuelError(f"the name {tok.text!r} is not a variable name jiefen can use")
            return tok.text
        if tok.kind == "end":
            raise JuelError("the expression ends too early")
        raise JuelError(f"unexpected {tok.text!r} ({SUBSET})")


_WHOLE = re.compile(r"^\s*[$#]\{(?P<body>.*)\}\s*$", re.DOTALL)


def translate(value: str) -> str:
    """The Python expression for a value that is one JUEL expression `${…}` (or `#{…}`). Raises JuelError naming
    what is outside the subset (composite text included)."""
    m = _WHOLE.match(value)
    body = m.group("body") if m else None
    if body is None or re.search(r"[$#]\{", body) or _unbalanced(body):
        raise JuelError("text mixed with ${…} (a composite expression) is outside the JUEL subset; write one "
                        "expression")
    if not body.strip():
        raise JuelError("the expression ${} is empty")
    return _Parser(body).parse()


def _unbalanced(body: str) -> bool:
    """True when a '}' outside strings ends the first expression before the text does ("${a} and ${b}")."""
    try:
        return any(t.kind == "op" and t.text in "{}" for t in _tokens(body))
    except JuelError:
        return False  # reported by the parse


# Where a JUEL value is translated: element text (condition, loop, timer bodies) and the task attributes jiefen
# evaluates as '=expr'. Other JUEL (delegate expressions, listeners, field injections) names Java code: refused.
_TEXT_ELEMENTS = {f"{{{BPMN_NS}}}{name}" for name in (
    "conditionExpression", "condition", "completionCondition", "loopCardinality", "loopCondition",
    "timeDate", "timeDuration", "timeCycle")}
_EQUALS_ATTRIBUTES = tuple(f"{{{CAMUNDA_NS}}}{name}" for name in (
    "candidateGroups", "candidateUsers", "assignee", "dueDate", "followUpDate", "priority"))


def translate_document(root: etree._Element) -> dict[tuple[etree._Element, str | None], str]:
    """Translate, in place, every JUEL value of a loaded BPMN tree that jiefen evaluates; returns what could not
    be translated: (element, attribute or None for the text) → why (JuelError's message). Keyed by the element
    object itself: lxml keeps one proxy per node while it is referenced, so the checks find the same one."""
    refused: dict[tuple[etree._Element, str | None], str] = {}
    for el in root.iter(*_TEXT_ELEMENTS):
        text = el.text or ""
        if "${" in text or "#{" in text:
            try:
                el.text = translate(text)
            except JuelError as exc:
                refused[(el, None)] = str(exc)
    for el in root.iter(f"{{{BPMN_NS}}}*"):
        for attr in _EQUALS_ATTRIBUTES:
            value = el.get(attr)
            if value is not None and ("${" in value or "#{" in value):
                try:
                    el.set(attr, "=" + translate(value))
                except JuelError as exc:
                    refused[(el, attr)] = str(exc)
    return refused
