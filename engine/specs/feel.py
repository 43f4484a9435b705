"""FEEL (DMN's expression language) → the sandbox's Python, for what a decision table drawn in Camunda Modeler holds.

Input entries are FEEL *simple unary tests*, compared against the column's input value:

    -                      any value (also an empty cell)
    "labour"               equal to a string (FEEL strings use double quotes)
    "a","b"                one of several tests
    >= 100000  < 5         a comparison with an endpoint
    [1..10]  ]1..10[  (1..10]   an interval (']' or '(' open at the start, '[' or ')' open at the end)
    not("x")  not(1,2)     none of the tests
    42  -1.5  true  false  null  a_name   a literal or a variable as endpoint

Each cell becomes one Python expression over a name standing for the input value (translate_unary_tests), with
FEEL's null rule kept: a comparison or interval never matches a null (None) input — FEEL yields null there, which
is no match — so the expression cannot raise on a missing value. Output entries (and literal output values) are
FEEL literals or, beyond them, the expressions jiefen accepts elsewhere (translate_output): Python checked by
engine.scripting, or a JUEL `${…}` translated by juel.py.

Anything else — functions (`date("…")`, `contains(…)`), paths (`a.b`), `'single quotes'`, FEEL's `=` — raises
FeelError naming the construct; the caller names the cell (rule and column).

Hand-written (a tokenizer and a small parser) for the same reason as juel.py: no maintained Python package parses
FEEL's unary tests, and the subset must map exactly onto the sandbox's expressions.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass

SUBSET = ('jiefen reads FEEL simple unary tests: -, "text", numbers, true/false/null, a variable, comparisons '
          '(< <= > >=), intervals [a..b], lists separated by commas, and not(…)')


class FeelError(ValueError):
    """A FEEL value outside the subset: the message names the construct."""


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>\d+(?:\.\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<range>\.\.)
  | (?P<op><=|>=|<|>|,|\(|\)|\[|\]|-|=|!=)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
""", re.VERBOSE)

_LITERALS = {"true": "True", "false": "False", "null": "None"}


@dataclass
class _Tok:
    kind: str  # number | string | range | op | name | end
    text: str


def _tokens(src: str) -> list[_Tok]:
    out, pos = [], 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            ch = src[pos]
            if ch == "'":
                raise FeelError("FEEL strings use double quotes (\"text\"), not single quotes")
            if ch == ".":
                raise FeelError("a path (a.b) or a bare '.' is outside the subset; use a plain variable")
            raise FeelError(f"the character {ch!r} is not part of the subset ({SUBSET})")
        pos = m.end()
        if m.lastgroup != "ws":
            out.append(_Tok(m.lastgroup or "", m.group()))
    out.append(_Tok("end", ""))
    return out


def _string(text: str) -> str:
    body = re.sub(r"\\(.)", r"\1", text[1:-1])  # FEEL escapes: \" \\
    return repr(body)


@dataclass
class Endpoint:
    """One endpoint of a test: its Python source and its kind (number, string, boolean, null, name)."""

    src: str
    kind: str


class _Parser:
    def __init__(self, src: str, value: str):
        self.toks = _tokens(src)
        self.i = 0
        self.value = value  # the Python name of the input value
        self.kinds: set[str] = set()  # endpoint kinds used (for the typeRef check)
        self.compared = False  # a comparison or interval is used

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        self.i += 1
        return self.toks[self.i - 1]

    def accept(self, kind: str, text: str | None = None) -> bool:
        tok = self.peek()
        if tok.kind == kind and (text is None or tok.text == text):
            self.i += 1
            return True
        return False

    def tests(self) -> str:
        if self.peek().kind == "name" and self.peek().text == "not" and self.toks[self.i + 1].text == "(":
            self.i += 2
            inner = self.positive_list()
            if not self.accept("op", ")"):
                raise FeelError("not( … ) is missing its ')'")
            out = f"(not {inner})"
        else:
            out = self.positive_list()
        if self.peek().kind != "end":
            raise FeelError(f"unexpected {self.peek().text!r} ({SUBSET})")
        return out

    def positive_list(self) -> str:
        parts = [self.positive()]
        while self.accept("op", ","):
            parts.append(self.positive())
        return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"

    def positive(self) -> str:
        tok = self.peek()
        v = self.value
        if tok.kind == "op" and tok.text in ("<", "<=", ">", ">="):
            self.take()
            end = self.endpoint()
            self._ordered(end, tok.text)
            return f"({v} is not None and {v} {tok.text} {end.src})"
        if tok.kind == "op" and tok.text in ("=", "!="):
            raise FeelError(f"'{tok.text}' is not a FEEL unary test; write the value alone (\"a\") for equality, "
                            "or not(\"a\")")
        if tok.kind == "op" and tok.text in ("[", "(", "]"):
            self.take()
            low = self.endpoint()
            if not self.accept("range"):
                raise FeelError("an interval needs '..' between its endpoints ([1..10])")
            high = self.endpoint()
            close = self.take()
            if close.text not in ("]", ")", "["):
                raise FeelError("an interval must end with ']' (closed) or ')' / '[' (open)")
            self._ordered(low, "interval")
            self._ordered(high, "interval")
            lo_op = ">=" if tok.text == "[" else ">"
            hi_op = "<=" if close.text == "]" else "<"
            return f"({v} is not None and {v} {lo_op} {low.src} and {v} {hi_op} {high.src})"
        end = self.endpoint()
        if end.kind == "null":
            return f"({v} is None)"
        return f"({v} == {end.src})"

    def _ordered(self, end: Endpoint, what: str) -> None:
        self.compared = True
        if end.kind in ("boolean", "null"):
            raise FeelError(f"true, false and null cannot be used with {what}; compare numbers or text")

    def endpoint(self) -> Endpoint:
        tok = self.take()
        if tok.kind == "op" and tok.text == "-" and self.peek().kind == "number":
            num = self.take().text
            self.kinds.add("number")
            return Endpoint(f"(-{num})", "number")
        if tok.kind == "number":
            self.kinds.add("number")
            return Endpoint(tok.text, "number")
        if tok.kind == "string":
            self.kinds.add("string")
            return Endpoint(_string(tok.text), "string")
        if tok.kind == "name":
            if self.peek().kind == "op" and self.peek().text == "(":
                raise FeelError(f"a function ({tok.text}(…)) is outside the subset ({SUBSET})")
            if tok.text in _LITERALS:
                kind = "null" if tok.text == "null" else "boolean"
                self.kinds.add(kind)
                return Endpoint(_LITERALS[tok.text], kind)
            if tok.text == "not":
                raise FeelError("not( … ) may only enclose the whole cell")
            self.kinds.add("name")
            return Endpoint(tok.text, "name")
        if tok.kind == "end":
            raise FeelError("the test ends too early")
        if tok.kind == "op" and tok.text == "-":
            raise FeelError("'-' (any value) must be the whole cell")
        raise FeelError(f"unexpected {tok.text!r} ({SUBSET})")


_NUMERIC_TYPES = {"integer", "long", "double", "number"}


def translate_unary_tests(src: str | None, value: str, type_ref: str | None = None) -> str | None:
    """The Python test for one input entry, over the name `value`; None for "any value" (`-` or empty).

    `type_ref`: the input column's typeRef; a string endpoint in a numeric column (or a number in a string
    column, a comparison in a boolean one) is refused, as Camunda would fail on it when the rule is evaluated."""
    text = (src or "").strip()
    if text in ("", "-"):
        return None
    parser = _Parser(text, value)
    out = parser.tests()
    kind = (type_ref or "").strip().lower()
    if kind in _NUMERIC_TYPES and "string" in parser.kinds:
        raise FeelError(f"the column's type is {kind} but the test compares with text")
    if kind == "string" and "number" in parser.kinds:
        raise FeelError('the column\'s type is string but the test compares with a number (write "42" for text)')
    if kind == "boolean" and (parser.compared or parser.kinds & {"string", "number"}):
        raise FeelError("the column's type is boolean: write true, false or null")
    return out


def literal(src: str) -> str | None:
    """The Python source of a FEEL literal (a string, number, true/false/null), or None if `src` is not one."""
    text = src.strip()
    try:
        toks = _tokens(text)
    except FeelError:
        return None
    if len(toks) == 2:
        tok = toks[0]
        if tok.kind == "number":
            return tok.text
        if tok.kind == "string":
            return _string(tok.text)
        if tok.kind == "name" and tok.text in _LITERALS:
            return _LITERALS[tok.text]
    if len(toks) == 3 and toks[0].text == "-" and toks[1].kind == "number":
        return f"-{toks[1].text}"
    return None


def output_values(src: str | None) -> list:
    """The values of an output column's 'output values' (`"simple","ordinary"`): the order the PRIORITY and
    OUTPUT ORDER hit policies rank by. Raises FeelError for anything but a list of literals."""
    text = (src or "").strip()
    if not text:
        return []
    values = []
    for part in _split_top(text):
        lit = literal(part)
        if lit is None:
            raise FeelError(f"output values must be literals separated by commas; {part.strip()!r} is not one")
        values.append(ast.literal_eval(lit))
    return values


def _split_top(text: str) -> list[str]:
    """Split at commas outside double-quoted strings."""
    parts, buf, quoted, escaped = [], [], False, False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append("".join(buf))
            buf = []
            continue
        buf.append(ch)
    parts.append("".join(buf))
    return parts
