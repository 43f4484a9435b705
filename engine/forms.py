"""Task forms: each user task's camunda:formData becomes a marshmallow schema (built once per version)."""
from __future__ import annotations

import functools
import logging
from datetime import date

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from engine import case_data, clock, form_rules, runtime
from engine.errors import InvalidData
from engine.messages import msg

log = logging.getLogger(__name__)

# marshmallow's messages by id (engine/messages.py): marshmallow fills their parameters through .format().
_MESSAGES = {
    "required": msg("form.required"),
    "null": msg("form.null"),
    "validator_failed": msg("form.invalid"),
}
_BY_KIND = {
    "integer": {"invalid": msg("form.not_integer"), "too_large": msg("form.integer_too_large")},
    "double": {"invalid": msg("form.not_number"), "too_large": msg("form.integer_too_large"),
               "special": msg("form.not_finite")},
    "boolean": {"invalid": msg("form.not_boolean")},
    "date": {"invalid": msg("form.not_date"), "format": msg("form.not_date")},
    "string": {"invalid": msg("form.not_text"), "invalid_utf8": msg("form.not_text")},
}


def _bounds_message(low, high, both, at_least, at_most):
    """The Range/Length message for the bounds a field has: between, at least, at most."""
    if low is not None and high is not None:
        return both
    return at_least if low is not None else at_most


class _IsoDate(fields.Date):
    """Accepts an ISO date and hands the workflow a YYYY-MM-DD string (task data stays JSON)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, date):
            return value.isoformat()
        return super()._deserialize(value, attr, data, **kwargs).isoformat()


def _phone(value: str) -> None:
    if value and not form_rules.is_phone(value):
        raise ValidationError(msg("form.not_phone"))


def _date_problems(schema: Schema, data: dict, today: date) -> dict[str, list]:
    """Dates outside their min/max (`today` is the day of entry, China time); unparsable dates are left to the
    field's own check."""
    problems: dict[str, list] = {}
    for name, fld in schema.fields.items():
        low, high, value = fld.metadata.get("min"), fld.metadata.get("max"), data.get(name)
        if (low is None and high is None) or not isinstance(value, str):
            continue
        try:
            day = date.fromisoformat(value.strip())
        except ValueError:
            continue
        if high is not None and day > form_rules.bound_date(high, today):
            latest = form_rules.bound_date(high, today).isoformat()
            problems[name] = [msg("form.date_after_today", date=latest) if high == form_rules.TODAY
                              else msg("form.date_max", date=latest)]
        elif low is not None and day < form_rules.bound_date(low, today):
            earliest = form_rules.bound_date(low, today).isoformat()
            problems[name] = [msg("form.date_before_today", date=earliest) if low == form_rules.TODAY
                              else msg("form.date_min", date=earliest)]
    return problems


def _field_for(spec: dict) -> fields.Field:
    kind = spec["type"].lower()
    required = bool(spec.get("required"))
    validators: list = []
    family = {"long": "integer", "integer": "integer", "double": "double", "boolean": "boolean",
              "date": "date"}.get(kind, "string")
    kwargs: dict = {"required": required, "error_messages": {**_MESSAGES, **_BY_KIND[family]},
                    "metadata": {"label": spec.get("label") or spec["id"], "show_if": spec.get("show_if"),
                                 **({"min": spec.get("min"), "max": spec.get("max")} if family == "date" else {})}}
    if not required:
        kwargs["allow_none"] = True
    if kind in ("long", "integer"):
        if spec.get("min") is not None or spec.get("max") is not None:
            validators.append(validate.Range(min=spec.get("min"), max=spec.get("max"),
                                             error=_bounds_message(spec.get("min"), spec.get("max"), msg("form.range"),
                                                                  msg("form.range_min"), msg("form.range_max"))))
        field: fields.Field = fields.Integer(strict=False, validate=validators, **kwargs)
    elif kind == "double":
        field = fields.Float(validate=validators, **kwargs)
    elif kind == "boolean":
        field = fields.Boolean(**kwargs)
    elif kind == "date":
        field = _IsoDate(**kwargs)
    elif kind == "enum":
        # jiefen.options: the choices depend on the case (engine/routing.py check_case_choices checks them).
        choices = None if spec.get("options_from") else [value for value, *_rest in spec.get("enum") or []]
        item_checks = [validate.OneOf(choices, error=msg("form.one_of"))] if choices is not None else []
        if spec.get("multiple"):  # jiefen.multiple: a list of distinct choices
            item = fields.String(validate=item_checks, error_messages=kwargs["error_messages"])
            if required:
                validators.append(validate.Length(min=1, error=_MESSAGES["required"]))
            field = fields.List(item, validate=validators, **{**kwargs, "error_messages": {
                **kwargs["error_messages"], "invalid": msg("form.not_list")}})
        else:
            field = fields.String(validate=validators + item_checks, **kwargs)
    else:
        if spec.get("minlength") is not None or spec.get("maxlength") is not None:
            validators.append(validate.Length(min=spec.get("minlength"), max=spec.get("maxlength"),
                                              error=_bounds_message(spec.get("minlength"), spec.get("maxlength"),
                                                                    msg("form.length"), msg("form.length_min"),
                                                                    msg("form.length_max"))))
        if required:
            validators.append(validate.Length(min=1, error=_MESSAGES["required"]))
        if spec.get("phone"):
            validators.append(_phone)
        field = fields.String(validate=validators, **kwargs)
    return field


GROUP_ROWS_MAX = 50  # rows of one repeatable group (jiefen.group) at most


def build_schema(form: list[dict], name: str = "TaskForm") -> type[Schema]:
    """A marshmallow Schema class for one task's form; readonly fields are not accepted from the user.

    The columns of a repeatable group (jiefen.group "key:label", e.g. one row per party) become one list of
    rows under `key`, each row checked by the columns' own rules (a required column is required in every row);
    the group itself is required (at least one row) when any of its columns is."""
    attrs: dict = {}
    groups: dict[str, list[dict]] = {}
    for spec in form:
        if spec.get("readonly"):
            continue
        if spec.get("group"):
            groups.setdefault(spec["group"], []).append(spec)
        else:
            attrs[spec["id"]] = _field_for(spec)
    for key, columns in groups.items():
        row = Schema.from_dict({c["id"]: _field_for(c) for c in columns}, name=f"{name}_{key}")
        row.error_messages = {**Schema.error_messages, "unknown": msg("form.unknown_field"),
                              "type": msg("form.not_object")}
        required = any(c.get("required") for c in columns)
        attrs[key] = fields.List(
            fields.Nested(row, unknown=RAISE), required=required, allow_none=not required,
            validate=validate.Length(min=1 if required else 0, max=GROUP_ROWS_MAX, error=msg("form.group_rows")),
            metadata={"label": columns[0].get("group_label") or key, "show_if": None},
            error_messages={**_MESSAGES, "invalid": msg("form.not_list")})

    class Meta:
        unknown = RAISE

    attrs["Meta"] = Meta
    schema = Schema.from_dict(attrs, name=name)
    schema.error_messages = {**Schema.error_messages, "unknown": msg("form.unknown_field"),
                             "type": msg("form.not_object")}
    return schema


NO_FIELDS = build_schema([], name="Form_empty")  # a task or start event without a form accepts only {}


@functools.lru_cache(maxsize=4096)
def _instance(schema: type[Schema], unknown: str) -> Schema:
    # One instance per form: building one deep-copies its fields (~0.1 ms), and load() keeps no state.
    return schema(unknown=unknown)


def validate_form(schema: type[Schema], data: dict, rt: runtime.Runtime, *, partial_unknown: bool = False, partial: bool = False) -> dict:
    """Validate submitted form data: first the rules all case data obeys (case_data.check_data: size, depth,
    text, numbers, helper names), then the form's fields. `partial`: required fields may be missing (data
    that prefills a form someone completes later). Raises InvalidData with field -> [messages]."""
    if not isinstance(data, dict):
        raise InvalidData(msg("form.not_object"), {"data": [msg("field.must_be_object")]})
    case_data.check_data(data, rt.settings.data_limits, rt.helpers)
    instance = _instance(schema, EXCLUDE if partial_unknown else RAISE)
    # A field whose jiefen.show_if does not hold does not apply: not required, its value not taken.
    hidden = [name for name, fld in instance.fields.items()
              if fld.metadata.get("show_if") and not form_rules.applies(fld.metadata, data)]
    if hidden:
        data = {key: value for key, value in data.items() if key not in hidden}
    dates = _date_problems(instance, data, rt.clock.now().astimezone(clock.CHINA_TZ).date())
    try:
        loaded = instance.load(data, partial=True if partial else (tuple(hidden) or False))
        if dates:
            raise ValidationError(dates)
        return loaded
    except ValidationError as exc:
        # a repeatable group's problems stay per row and column ({row: {column: [messages]}}), rows counted from 0
        messages = {key: (value if isinstance(value, (list, dict)) else [str(value)])
                    for key, value in exc.messages.items()}
        for key, value in dates.items():
            messages.setdefault(key, value)
        unknown = sorted(key for key, value in messages.items()
                         if [getattr(m, "id", None) for m in value] == ["form.unknown_field"])
        if unknown:
            raise InvalidData(msg("form.unknown_fields", fields=", ".join(unknown)), messages) from exc
        raise InvalidData(msg("form.invalid"), messages) from exc



def fields_by_id(meta: dict) -> dict[str, dict]:
    """Every form field of a process version by id (the start form's, then every user task's; first wins), to
    label case data; a repeatable group (jiefen.group) by its key: type "group", its label and its columns."""
    out: dict[str, dict] = {spec["id"]: spec for spec in meta.get("start_form") or []}
    for info in (meta.get("user_tasks") or {}).values():
        for spec in info.get("form") or []:
            if spec.get("group"):
                group = out.setdefault(spec["group"], {"id": spec["group"], "label": spec.get("group_label"),
                                                       "type": "group", "columns": []})
                if group.get("type") == "group" and spec["id"] not in [c["id"] for c in group["columns"]]:
                    group["columns"].append(spec)
                continue
            out.setdefault(spec["id"], spec)
    return out
