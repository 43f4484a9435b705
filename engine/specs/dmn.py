"""DMN decision tables: load and check a DMN file, translate its cells once, and evaluate a table for a task.

A DMN file (Camunda Modeler / dmn-js, DMN 1.1 to 1.3) holds one or more `decision`s, each a `decisionTable`.
Deploying it (services/decisions.py) stores each decision as a version of its own; a BPMN business rule task names
one by `camunda:decisionRef` and gets, when the process is deployed, the translated table of the decision's newest
version embedded in its spec (decision_task.py). So a running case keeps the table it started with (replay stays
exact), and a new version of a table reaches new cases through a new version of each process that uses it
(services/decisions.py redeploys them, as a changed called process does).

parse_decisions checks every cell and refuses the file with every problem, each naming the decision, the rule
(its number, as dmn-js shows it) and the column (its label): input entries are FEEL simple unary tests
(feel.py), output entries FEEL literals or the expressions conditions use (Python, or JUEL ${…}); every
translation then passes engine.scripting's checks with the deploying runtime's limits. Hit policies: UNIQUE, FIRST,
PRIORITY, ANY, COLLECT (with SUM, MIN, MAX, COUNT), RULE ORDER and OUTPUT ORDER — evaluated as Camunda 7 does
(evaluate_table). Not supported, refused: literal-expression decisions, required decisions (a decision's input
from another one), and input/output entries in another expression language.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from engine import scripting
from engine.errors import Problem, ProcessDefinitionError
from engine.specs import feel, juel
from engine.specs.values import _has_juel
from engine.specs.xmldoc import _Doc, _load_xml

log = logging.getLogger(__name__)

DMN_NAMESPACES = (
    "https://www.omg.org/spec/DMN/20191111/MODEL/",  # DMN 1.3: Camunda Modeler 4+, dmn-js 9+
    "http://www.omg.org/spec/DMN/20180521/MODEL/",  # DMN 1.2
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",  # DMN 1.1: older Camunda Modeler files
)
HIT_POLICIES = ("UNIQUE", "FIRST", "PRIORITY", "ANY", "COLLECT", "RULE ORDER", "OUTPUT ORDER")
AGGREGATIONS = ("SUM", "MIN", "MAX", "COUNT")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INPUT = "dmn_in_{}"  # the Python name a rule's test uses for input column i (dmn_in_0, …)


@dataclass
class DecisionDefinition:
    """One decision of a DMN file, checked and translated: `table` is what a business rule task embeds."""

    decision_id: str
    name: str
    file_name: str
    xml: bytes
    sha256: str  # of the file's xml
    table: dict = field(default_factory=dict)


def is_dmn_name(name: str) -> bool:
    return name.lower().endswith(".dmn") or name.lower().endswith(".dmn11.xml")


def parse_decisions(files: dict[str, bytes],
                    limits: scripting.Limits = scripting.DEFAULT_LIMITS) -> list[DecisionDefinition]:
    """Check and translate the decisions of DMN files. Raises ProcessDefinitionError listing every problem."""
    if not files:
        raise ProcessDefinitionError("Nothing to deploy", [Problem("The deployment contains no DMN file.")])
    out: list[DecisionDefinition] = []
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for name, data in sorted(files.items()):
        doc = _load_xml(name, data)
        if not doc.fatal:
            for defn in _decisions_of(doc, limits):
                if defn.decision_id in seen:
                    doc.problem(f"The decision id '{defn.decision_id}' is defined more than once in this deployment "
                                f"(also in {seen[defn.decision_id]}).", element_id=defn.decision_id)
                seen[defn.decision_id] = name
                out.append(defn)
        problems += doc.problems
    if problems:
        first = problems[0]
        raise ProcessDefinitionError(
            f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {', '.join(sorted(files))} (first: "
            f"{first.file}{' line ' + str(first.line) if first.line else ''}: {first.message})", problems)
    return out


def _decisions_of(doc: _Doc, limits: scripting.Limits) -> list[DecisionDefinition]:
    root = doc.root
    assert root is not None
    qname = etree.QName(root)
    if qname.namespace not in DMN_NAMESPACES or qname.localname != "definitions":
        doc.problem(f"This is not a DMN file: its root element <{qname.localname}> is not a DMN 1.1–1.3 "
                    f"<definitions> (found namespace '{qname.namespace or 'none'}').", line=root.sourceline)
        return []
    ns = qname.namespace
    decisions = root.findall(f"{{{ns}}}decision")
    if not decisions:
        doc.problem("The file contains no decision, so there is nothing to deploy.", line=root.sourceline)
        return []
    sha = hashlib.sha256(doc.data).hexdigest()
    out = []
    for dec in decisions:
        table = _Table(doc, dec, ns, limits).check()
        if table is not None:
            out.append(DecisionDefinition(dec.get("id"), dec.get("name") or dec.get("id"), doc.name, doc.data, sha,
                                          {**table, "sha256": sha}))
    return out


class _Table:
    """The checks and translation of one decision's table (problems go to the file's doc)."""

    def __init__(self, doc: _Doc, decision: etree._Element, ns: str, limits: scripting.Limits):
        self.doc, self.el, self.ns, self.limits = doc, decision, ns, limits
        self.id = (decision.get("id") or "").strip()
        self.label = f"Decision '{decision.get('name') or self.id}'"

    def _t(self, tag: str) -> str:
        return f"{{{self.ns}}}{tag}"

    def problem(self, message: str, el: etree._Element | None = None, element_id: str | None = None) -> None:
        self.doc.problem(f"{self.label}: {message}", element_id=element_id or self.id or None,
                         line=el.sourceline if el is not None else self.el.sourceline)

    def check(self) -> dict | None:
        before = len(self.doc.problems)
        if not self.id or not _NAME.match(self.id):
            self.problem(f"the decision id '{self.id}' must be a name (letters, digits, _), as camunda:decisionRef "
                         "refers to it.")
        if self.el.find(self._t("literalExpression")) is not None:
            self.problem("literal-expression decisions are not supported; draw a decision table.")
            return None
        for req in self.el.iter(self._t("requiredDecision")):
            self.problem("a decision that takes its input from another decision (a required decision) is not "
                         "supported; give the business rule task the inputs it needs, or merge the tables.", req)
        table = self.el.find(self._t("decisionTable"))
        if table is None:
            self.problem("the decision has no decision table.")
            return None
        hit = (table.get("hitPolicy") or "UNIQUE").strip().upper()
        aggregation = (table.get("aggregation") or "").strip().upper() or None
        if hit not in HIT_POLICIES:
            self.problem(f"the hit policy '{hit}' is not known (use one of {', '.join(HIT_POLICIES)}).", table)
        if aggregation is not None and (hit != "COLLECT" or aggregation not in AGGREGATIONS):
            self.problem(f"the aggregation '{aggregation}' is only possible with the hit policy COLLECT, as SUM, "
                         "MIN, MAX or COUNT.", table)
        inputs = [self._input(i, el) for i, el in enumerate(table.findall(self._t("input")))]
        outputs = [self._output(el) for el in table.findall(self._t("output"))]
        if not outputs:
            self.problem("the table has no output column.", table)
        names = [o["name"] for o in outputs]
        for dup in sorted({n for n in names if n and names.count(n) > 1}):
            self.problem(f"two output columns are named '{dup}'; each output needs its own name.", table)
        if aggregation is not None and len(outputs) != 1:
            self.problem(f"the aggregation {aggregation} needs exactly one output column.", table)
        if hit in ("PRIORITY", "OUTPUT ORDER") and not any(o["values"] for o in outputs):
            self.problem(f"the hit policy {hit} ranks rules by the output values: give an output column its "
                         "'output values' (e.g. \"major\",\"complex\",\"ordinary\",\"simple\").", table)
        rules = [self._rule(n, el, inputs, outputs) for n, el in enumerate(table.findall(self._t("rule")), start=1)]
        if len(self.doc.problems) > before:
            return None
        return {"decision_id": self.id, "name": self.el.get("name") or self.id, "hit_policy": hit,
                "aggregation": aggregation, "inputs": inputs, "outputs": outputs, "rules": rules}

    def _column(self, el: etree._Element, fallback: str) -> str:
        return (el.get("label") or el.get("name") or fallback).strip()

    def _input(self, index: int, el: etree._Element) -> dict:
        label = self._column(el, f"input {index + 1}")
        expr_el = el.find(self._t("inputExpression"))
        text_el = expr_el.find(self._t("text")) if expr_el is not None else None
        src = (text_el.text or "").strip() if text_el is not None else ""
        type_ref = (expr_el.get("typeRef") or "").strip() if expr_el is not None else ""
        expression = None
        if not src:
            self.problem(f"the input column '{label}' has no expression: name the case variable it reads.", el)
        else:
            expression = self._expression(src, f"the input column '{label}' expression «{src}»", el,
                                          language=expr_el.get("expressionLanguage"))
        return {"id": el.get("id"), "label": label, "expression": expression, "type_ref": type_ref,
                "source": src}

    def _output(self, el: etree._Element) -> dict:
        label = self._column(el, "output")
        name = (el.get("name") or "").strip()
        if not name:
            self.problem(f"the output column '{label}' has no name: the name is the key of the result.", el)
        elif not _NAME.match(name):
            self.problem(f"the output column '{label}' is named '{name}'; use letters, digits and _ only.", el)
        values: list = []
        values_el = el.find(f"{self._t('outputValues')}/{self._t('text')}")
        if values_el is not None:
            try:
                values = feel.output_values(values_el.text)
            except feel.FeelError as exc:
                self.problem(f"the output column '{label}' output values: {exc}.", values_el)
        return {"id": el.get("id"), "label": label, "name": name, "type_ref": (el.get("typeRef") or "").strip(),
                "values": values}

    def _rule(self, number: int, el: etree._Element, inputs: list[dict], outputs: list[dict]) -> dict:
        rule_id = el.get("id")
        in_cells = el.findall(self._t("inputEntry"))
        out_cells = el.findall(self._t("outputEntry"))
        if len(in_cells) != len(inputs) or len(out_cells) != len(outputs):
            self.problem(f"rule {number} has {len(in_cells)} input and {len(out_cells)} output cells; the table has "
                         f"{len(inputs)} input and {len(outputs)} output columns.", el, rule_id)
            return {"id": rule_id, "row": number, "test": None, "outputs": []}
        tests = []
        for i, (cell, column) in enumerate(zip(in_cells, inputs)):
            src = self._cell_text(cell)
            where = f"rule {number}, input column '{column['label']}': «{src}»"
            if (cell.get("expressionLanguage") or "feel").strip().lower() != "feel":
                self.problem(f"{where} is written in '{cell.get('expressionLanguage')}'; input cells are FEEL "
                             "unary tests.", cell, rule_id)
                continue
            try:
                test = feel.translate_unary_tests(src, _INPUT.format(i), column.get("type_ref"))
            except feel.FeelError as exc:
                self.problem(f"{where}: {exc}.", cell, rule_id)
                continue
            if test is not None and self._checked(test, where, cell, rule_id):
                tests.append(test)
        results = []
        for cell, column in zip(out_cells, outputs):
            src = self._cell_text(cell)
            where = f"rule {number}, output column '{column['label']}': «{src}»"
            results.append(self._output_value(src, where, cell, rule_id))
        return {"id": rule_id, "row": number, "test": " and ".join(tests) if tests else None, "outputs": results}

    def _cell_text(self, cell: etree._Element) -> str:
        text = cell.find(self._t("text"))
        return (text.text or "").strip() if text is not None else ""

    def _output_value(self, src: str, where: str, cell: etree._Element, rule_id: str | None) -> str | None:
        if not src:
            return None
        lit = feel.literal(src)
        if lit is not None:
            return lit
        if src.startswith("'") and src.endswith("'"):
            self.problem(f"{where}: FEEL strings use double quotes (\"text\").", cell, rule_id)
            return None
        return self._expression(src, where, cell, rule_id=rule_id)

    def _expression(self, src: str, where: str, el: etree._Element, *, language: str | None = None,
                    rule_id: str | None = None) -> str | None:
        lang = (language or "").strip().lower()
        if lang and lang not in ("feel", "juel", "python"):
            self.problem(f"{where} is written in '{language}'; use FEEL, JUEL (${{…}}) or Python.", el, rule_id)
            return None
        if _has_juel(src):
            try:
                py = juel.translate(src)
            except juel.JuelError as exc:
                self.problem(f"{where}: {exc}.", el, rule_id)
                return None
        else:
            py = src
        return py if self._checked(py, where, el, rule_id) else None

    def _checked(self, py: str, where: str, el: etree._Element, rule_id: str | None) -> bool:
        messages = scripting.check_expression(py, limits=self.limits)
        for message in messages:
            self.problem(f"{where}: {message}", el, rule_id)
        return not messages


# -- evaluation ------------------------------------------------------------------------------------------------------

class DecisionFailed(ValueError):
    """A table's hit policy or the task's result mapping refused the matched rules (the message says which)."""


def evaluate_table(table: dict, evaluate: Any) -> list[dict]:
    """The decision result, as Camunda 7's DmnDecisionResult: one dict (output name → value) per matched rule in
    the hit policy's order. `evaluate(expression, context)` evaluates a sandboxed expression over the task's data
    plus `context` (the input values). Raises DecisionFailed (UNIQUE or ANY broken)."""
    context = {_INPUT.format(i): evaluate(inp["expression"], {}) for i, inp in enumerate(table["inputs"])}
    matched = [rule for rule in table["rules"] if rule["test"] is None or evaluate(rule["test"], context)]
    hit = table["hit_policy"]
    name = table.get("name") or table["decision_id"]
    if hit == "UNIQUE" and len(matched) > 1:
        rows = ", ".join(str(r["row"]) for r in matched)
        raise DecisionFailed(f"decision table '{name}' (hit policy UNIQUE): rules {rows} all match; exactly one "
                             "may (change the rules, or use the hit policy FIRST)")
    results = [(rule, _outputs(table, rule, evaluate, context)) for rule in matched]
    if hit == "FIRST":
        results = results[:1]
    elif hit == "ANY":
        distinct = {repr(sorted(out.items())) for _, out in results}
        if len(distinct) > 1:
            rows = ", ".join(str(r["row"]) for r, _ in results)
            raise DecisionFailed(f"decision table '{name}' (hit policy ANY): rules {rows} match with different "
                                 "outputs; under ANY matching rules must agree")
        results = results[:1]
    elif hit in ("PRIORITY", "OUTPUT ORDER"):
        results.sort(key=lambda item: _rank(table, item[1]))  # stable: rule order among equals
        if hit == "PRIORITY":
            results = results[:1]
    outs = [out for _, out in results]
    if hit == "COLLECT" and table.get("aggregation"):
        return _aggregate(table, outs)
    return outs


def _outputs(table: dict, rule: dict, evaluate: Any, context: dict) -> dict:
    return {col["name"]: (evaluate(src, context) if src is not None else None)
            for col, src in zip(table["outputs"], rule["outputs"])}


def _rank(table: dict, out: dict) -> tuple:
    key = []
    for col in table["outputs"]:
        values = col.get("values") or []
        if values:
            value = out.get(col["name"])
            key.append(values.index(value) if value in values else len(values))
    return tuple(key)


def _aggregate(table: dict, outs: list[dict]) -> list[dict]:
    col = table["outputs"][0]["name"]
    agg = table["aggregation"]
    if agg == "COUNT":
        return [{col: len(outs)}]
    values = [o[col] for o in outs if o.get(col) is not None]
    if not values:
        return []
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values) and agg == "SUM":
        raise DecisionFailed(f"decision table '{table.get('name')}': SUM needs numbers, got {values!r}")
    try:
        value = {"SUM": sum, "MIN": min, "MAX": max}[agg](values)
    except TypeError as exc:
        raise DecisionFailed(f"decision table '{table.get('name')}': {agg} over {values!r}: {exc}") from exc
    return [{col: value}]


MAPPINGS = ("singleEntry", "singleResult", "collectEntries", "resultList")


def map_result(result: list[dict], mapping: str, name: str) -> Any:
    """camunda:mapDecisionResult over a decision result (Camunda's default is resultList). Raises DecisionFailed
    when the result does not fit the mapping."""
    if mapping == "resultList":
        return result
    if mapping == "collectEntries":
        if any(len(r) > 1 for r in result):
            raise DecisionFailed(f"decision '{name}': collectEntries needs one output per rule")
        return [next(iter(r.values())) for r in result]
    if len(result) > 1:
        raise DecisionFailed(f"decision '{name}': {mapping} needs at most one matching rule, {len(result)} matched")
    if not result:
        return None
    if mapping == "singleResult":
        return result[0]
    if len(result[0]) > 1:
        raise DecisionFailed(f"decision '{name}': singleEntry needs one output column")
    return next(iter(result[0].values()))
