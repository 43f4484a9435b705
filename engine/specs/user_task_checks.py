"""Designer checks of user tasks: assignment attributes, dates, priority and the camunda:formData form."""
from __future__ import annotations

import keyword
import re
from datetime import date, datetime
from typing import Any, Callable

from lxml import etree

from engine import scripting
from engine.form_rules import date_bound, parse_show_if
from engine.specs.facts import parse_value_names
from engine.specs.values import _as_float, _as_int, _has_juel, _split_list
from engine.specs.xmldoc import _b, _c, _Doc


# Names the sandbox gives every expression (engine.calendar helpers); form fields must not hide them.
HELPER_NAMES = frozenset({"workdays", "legal_days", "natural_days"})
FORM_TYPES = ("string", "long", "boolean", "date", "enum")
CONSTRAINTS = ("required", "readonly", "min", "max", "minlength", "maxlength", "phone")
OPTION_SOURCES = ("org_units_below",)  # jiefen.options values: engine/routing.py case_form builds them
FIELD_PROPERTIES = ("jiefen.options", "jiefen.multiple", "jiefen.parent_only_options", "jiefen.show_if",
                    "jiefen.suggestion", "jiefen.group")
_SUGGESTION = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?\Z")
_GROUP = re.compile(r"^[a-z_][a-z0-9_]{0,39}:\S.*$")


# Not scripting._ISO_DURATION (a different pattern, for quoted timer durations); this one is for camunda:dueDate.
_ISO_DURATION = re.compile(r"^-?P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


def _is_iso_date_or_duration(value: str) -> bool:
    if _ISO_DURATION.match(value):
        return True
    try:
        datetime.fromisoformat(value)
        return True
    except ValueError:
        return False


def _identifier_problem(name: str | None, what: str) -> str | None:
    """Why `name` cannot be a data variable that expressions read, or None."""
    if not name:
        return f"{what} has no id."
    if not name.isidentifier():
        return (f"{what} id '{name}' is not a valid variable name: use letters, digits and '_', not starting with "
                "a digit (expressions refer to the field by this id).")
    if keyword.iskeyword(name):
        return f"{what} id '{name}' is a Python keyword; expressions could not refer to it. Rename the field."
    if name in HELPER_NAMES:
        return (f"{what} id '{name}' would hide the deadline helper {name}() that expressions use. "
                "Rename the field.")
    if name in scripting.FORBIDDEN_NAMES:
        return (f"{what} id '{name}' is a name expressions may not use, so no condition could read the field. "
                f"Give it a more specific id (e.g. dispute_{name}).")
    if name in scripting.BUILTIN_NAMES:
        return (f"{what} id '{name}' would hide the built-in '{name}' that expressions use. "
                f"Give it a more specific id (e.g. dispute_{name}).")
    if name.startswith("_"):
        return f"{what} id '{name}' starts with '_'; such names are reserved in expressions. Rename the field."
    return None


class _UserTaskChecks:
    """The user-task part of _Checker (checks.py), which provides self.doc and self._expression."""

    doc: _Doc
    _expression: Callable[..., Any]

    def _bpmn_userTask(self, el: etree._Element) -> None:
        for attr in ("candidateGroups", "candidateUsers"):
            value = el.get(_c(attr))
            if value is None or _has_juel(value):
                continue
            value = value.strip()
            if value.startswith("="):
                self._expression(el, value[1:], f"camunda:{attr} expression")
            elif not value or any(not item for item in _split_list(value)):
                self.doc.problem(f"camunda:{attr} \"{value}\" must be a comma-separated list of names without "
                                 "empty entries, or an expression starting with '='.", el)
        assignee = el.get(_c("assignee"))
        if assignee is not None and not _has_juel(assignee):
            if assignee.strip().startswith("="):
                self._expression(el, assignee.strip()[1:], "camunda:assignee expression")
            elif not assignee.strip():
                self.doc.problem("camunda:assignee is empty.", el)
        for attr in ("dueDate", "followUpDate"):
            value = el.get(_c(attr))
            if value is None or _has_juel(value):
                continue
            value = value.strip()
            if value.startswith("="):
                self._expression(el, value[1:], f"camunda:{attr} expression")
            elif not _is_iso_date_or_duration(value):
                self.doc.problem(f"camunda:{attr} \"{value}\" is neither an ISO 8601 date/time (e.g. "
                                 "2025-03-31T17:00:00+08:00), an ISO 8601 duration (e.g. P5D) nor an expression "
                                 "starting with '=' (e.g. =workdays(5)).", el)
        priority = el.get(_c("priority"))
        if priority is not None and not _has_juel(priority):
            if priority.strip().startswith("="):
                self._expression(el, priority.strip()[1:], "camunda:priority expression")
            elif _as_int(priority) is None:
                self.doc.problem(f"camunda:priority \"{priority}\" is not a whole number.", el)
        self._form(el)

    def _form(self, task: etree._Element) -> None:
        seen: set[str] = set()
        groups: dict[str, etree._Element] = {}
        for fld in task.iterfind(f"{_b('extensionElements')}/{_c('formData')}/{_c('formField')}"):
            fid = fld.get("id")
            label = f"Form field '{fid}'" if fid else "A form field"
            bad_id = _identifier_problem(fid, "Form field")
            if bad_id:
                self.doc.problem(bad_id, fld)
            elif fid in seen:
                self.doc.problem(f"Form field '{fid}' appears twice in the form.", fld)
            seen.add(fid or "")
            raw_type = (fld.get("type") or "").strip()
            kind = raw_type.lower()
            if not raw_type:
                self.doc.problem(f"{label} has no type; use one of: {', '.join(FORM_TYPES)}.", fld)
            elif kind not in FORM_TYPES:
                self.doc.problem(f"{label} has type '{raw_type}', which is not supported; use one of: "
                                 f"{', '.join(FORM_TYPES)}.", fld)
            values = [v for v in fld if v.tag == _c("value")]
            props = self._field_properties(fld, label, kind, values)
            if kind == "enum":
                ids = [(v.get("id") or "").strip() for v in values]
                if not values and not props.get("jiefen.options"):
                    self.doc.problem(f"{label} is an enum without values; add the choices (camunda:value).", fld)
                elif any(not i for i in ids):
                    self.doc.problem(f"{label} has an enum value without an id.", fld)
                elif len(set(ids)) != len(ids):
                    self.doc.problem(f"{label} lists the same enum value id twice.", fld)
            self._default(fld, label, kind, values)
            self._constraints(fld, label)
            group = props.get("jiefen.group", "").partition(":")[0].strip()
            if group and (props.get("jiefen.multiple", "").lower() == "true" or props.get("jiefen.show_if")):
                self.doc.problem(f"{label}: a column of a repeatable group (jiefen.group) may not be "
                                 f"jiefen.multiple or carry jiefen.show_if.", fld)
            if group:
                groups.setdefault(group, fld)
        for group, fld in groups.items():
            if group in seen:
                self.doc.problem(f"jiefen.group '{group}' is also the id of a field of this form; name the group "
                                 f"differently.", fld)
        self._show_if(task)

    def _field_properties(self, fld: etree._Element, label: str, kind: str,
                          values: list[etree._Element]) -> dict[str, str]:
        """The jiefen.* properties of a form field (docs/designers.md, "Form fields"): known names and values."""
        props: dict[str, str] = {}
        for prop in fld.iterfind(f"{_c('properties')}/{_c('property')}"):
            name, value = (prop.get("id") or "").strip(), (prop.get("value") or "").strip()
            if not name.startswith("jiefen."):
                continue
            props[name] = value
            if name not in FIELD_PROPERTIES:
                self.doc.problem(f"{label}: property '{name}' is not known; use one of: "
                                 f"{', '.join(FIELD_PROPERTIES)}.", prop)
            elif name == "jiefen.show_if":
                continue  # any kind of field; its rule is checked by _show_if
            elif name == "jiefen.suggestion":
                if not _SUGGESTION.match(value):
                    self.doc.problem(f"{label}: jiefen.suggestion \"{value}\" must name a case variable, or a key "
                                     "of one (suggestion.tier).", prop)
            elif name == "jiefen.group":
                if not _GROUP.match(value):
                    self.doc.problem(f"{label}: jiefen.group must be 'key:label' (a lower-case data key, then the "
                                     f"name people read, e.g. parties:当事人), got '{value}'.", prop)
                continue
            elif kind != "enum":
                self.doc.problem(f"{label}: property '{name}' applies to enum fields only.", prop)
            elif name == "jiefen.options" and value not in OPTION_SOURCES:
                self.doc.problem(f"{label}: jiefen.options '{value}' is not known; use one of: "
                                 f"{', '.join(OPTION_SOURCES)}.", prop)
            elif name == "jiefen.options" and values:
                self.doc.problem(f"{label}: its options come from jiefen.options; remove the camunda:value "
                                 f"entries.", prop)
            elif name == "jiefen.multiple" and value.lower() not in ("true", "false"):
                self.doc.problem(f"{label}: jiefen.multiple must be true or false, got '{value}'.", prop)
            elif name == "jiefen.parent_only_options":
                ids = {(v.get("id") or "").strip() for v in values}
                unknown = [v.strip() for v in value.split(",") if v.strip() and v.strip() not in ids]
                if unknown or not value:
                    self.doc.problem(f"{label}: jiefen.parent_only_options names {', '.join(unknown) or 'nothing'}"
                                     f", which is not one of the field's enum value ids.", prop)
        return props

    def _default(self, fld: etree._Element, label: str, kind: str, values: list[etree._Element]) -> None:
        default = fld.get("defaultValue")
        if default is None or _has_juel(default):
            return
        text = default.strip()
        if kind == "long" and _as_int(text) is None:
            self.doc.problem(f"{label}: default value '{default}' is not a whole number.", fld)
        elif kind == "boolean" and text.lower() not in ("true", "false"):
            self.doc.problem(f"{label}: default value '{default}' must be true or false.", fld)
        elif kind == "enum" and values and text not in {v.get("id") for v in values}:
            self.doc.problem(f"{label}: default value '{default}' is not one of the enum value ids.", fld)
        elif kind == "date" and text:
            try:
                date.fromisoformat(text)
            except ValueError:
                self.doc.problem(f"{label}: default value '{default}' is not an ISO date (YYYY-MM-DD).", fld)

    def _constraints(self, fld: etree._Element, label: str) -> None:
        bounds: dict[str, float] = {}
        kind = (fld.get("type") or "").strip().lower()
        for con in fld.iterfind(f"{_c('validation')}/{_c('constraint')}"):
            name = (con.get("name") or "").strip()
            config = con.get("config")
            if name not in CONSTRAINTS:
                self.doc.problem(f"{label}: validation constraint '{name}' is not supported; use "
                                 f"{', '.join(CONSTRAINTS)}.", con)
            elif name in ("min", "max") and kind == "date":
                if date_bound(config) is None:
                    self.doc.problem(f"{label}: constraint '{name}' on a date field needs 'today' or an ISO date "
                                     f"(YYYY-MM-DD) as config, got '{config or ''}'.", con)
            elif name == "phone" and kind != "string":
                self.doc.problem(f"{label}: constraint 'phone' applies to string fields, not {kind or 'untyped'} "
                                 "ones.", con)
            elif name in ("min", "max"):
                number = _as_float(config)
                if number is None:
                    self.doc.problem(f"{label}: constraint '{name}' needs a number as config, got "
                                     f"'{config or ''}'.", con)
                else:
                    bounds[name] = number
            elif name in ("minlength", "maxlength"):
                number = _as_int(config)
                if number is None or number < 0:
                    self.doc.problem(f"{label}: constraint '{name}' needs a non-negative whole number as config, "
                                     f"got '{config or ''}'.", con)
                else:
                    bounds[name] = number
        for low, high in (("min", "max"), ("minlength", "maxlength")):
            if low in bounds and high in bounds and bounds[low] > bounds[high]:
                self.doc.problem(f"{label}: constraint {low} ({bounds[low]:g}) is greater than {high} "
                                 f"({bounds[high]:g}).", fld)

    def _camunda_property(self, el: etree._Element) -> None:
        """`jiefen.label.<var>` / `jiefen.values.<var>` (labels for data no form names, engine/specs/facts.py
        data_labels): on the process element, a variable name, a label for every value list, pairs that parse."""
        name = (el.get("name") or "").strip()
        kind = next((k for k in ("label", "values") if name.startswith(f"jiefen.{k}.")), None)
        if kind is None:
            return
        var = name[len(f"jiefen.{kind}."):]
        owner = el.getparent()
        while owner is not None and owner.get("id") is None:
            owner = owner.getparent()
        if owner is None or owner.tag != _b("process"):
            self.doc.problem(f"Property '{name}' labels process data: put it on the process itself (Extensions → "
                             "Properties of the process), not on an element.", el)
        elif not var.isidentifier() or keyword.iskeyword(var):
            self.doc.problem(f"Property '{name}': '{var}' is not a variable name.", el)
        elif not (el.get("value") or "").strip():
            self.doc.problem(f"Property '{name}' has no value; give the {'label' if kind == 'label' else 'values'} "
                             "staff read.", el)
        elif kind == "values":
            if parse_value_names(el.get("value") or "") is None:
                self.doc.problem(f"Property '{name}' must list value=name pairs separated by ';' (e.g. "
                                 "valid=裁定有效;rejected=驳回), each id once.", el)
            siblings = {(p.get("name") or "").strip() for p in el.getparent()}
            if f"jiefen.label.{var}" not in siblings:
                self.doc.problem(f"Property '{name}' names the values of '{var}', which has no jiefen.label.{var}; "
                                 "add the label.", el)

    def _show_if(self, task: etree._Element) -> None:
        """jiefen.show_if (engine/form_rules.py): the tiny syntax, about another field of the same form, and for
        an enum one of its values."""
        fields_ = {f.get("id"): f for f in task.iterfind(f"{_b('extensionElements')}/{_c('formData')}/{_c('formField')}")}
        for fid, fld in fields_.items():
            for prop in fld.iterfind(f"{_c('properties')}/{_c('property')}"):
                if prop.get("id") != "jiefen.show_if":
                    continue
                text = prop.get("value") or ""
                rule = parse_show_if(text)
                if rule is None:
                    self.doc.problem(f"Form field '{fid}': jiefen.show_if \"{text}\" must read field == 'value' or "
                                     "field != 'value' (a quoted text, a number, true or false).", prop)
                    continue
                other = fields_.get(rule[0])
                if other is None or rule[0] == fid:
                    self.doc.problem(f"Form field '{fid}': jiefen.show_if names '{rule[0]}', which is not another "
                                     "field of this form.", prop)
                elif (other.get("type") or "").strip().lower() == "enum" and rule[2] not in {
                        v.get("id") for v in other.iterfind(_c("value"))}:
                    self.doc.problem(f"Form field '{fid}': jiefen.show_if compares '{rule[0]}' with {rule[2]!r}, "
                                     "which is not one of its enum value ids.", prop)
