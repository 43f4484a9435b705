"""Task forms: each user task's camunda:formData becomes a marshmallow schema (built once per version)."""
from __future__ import annotations

import functools
import logging
from datetime import date

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from engine import case_data, runtime
from engine.errors import InvalidData

log = logging.getLogger(__name__)

_MESSAGES = {
    "required": "此项必填 / This field is required.",
    "null": "此项不能为空 / This field may not be empty.",
}


class _IsoDate(fields.Date):
    """Accepts an ISO date and hands the workflow a YYYY-MM-DD string (task data stays JSON)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, date):
            return value.isoformat()
        return super()._deserialize(value, attr, data, **kwargs).isoformat()


def _field_for(spec: dict) -> fields.Field:
    kind = spec["type"].lower()
    required = bool(spec.get("required"))
    validators: list = []
    kwargs: dict = {"required": required, "error_messages": dict(_MESSAGES),
                    "metadata": {"label": spec.get("label") or spec["id"]}}
    if not required:
        kwargs["allow_none"] = True
    if kind in ("long", "integer"):
        if spec.get("min") is not None or spec.get("max") is not None:
            validators.append(validate.Range(min=spec.get("min"), max=spec.get("max")))
        field: fields.Field = fields.Integer(strict=False, validate=validators, **kwargs)
    elif kind == "double":
        field = fields.Float(validate=validators, **kwargs)
    elif kind == "boolean":
        field = fields.Boolean(**kwargs)
    elif kind == "date":
        field = _IsoDate(**kwargs)
    elif kind == "enum":
        choices = [value for value, _name in spec.get("enum") or []]
        validators.append(validate.OneOf(choices, error="请选择列表中的值 / Must be one of: {choices}."))
        field = fields.String(validate=validators, **kwargs)
    else:
        if spec.get("minlength") is not None or spec.get("maxlength") is not None:
            validators.append(validate.Length(min=spec.get("minlength"), max=spec.get("maxlength")))
        if required:
            validators.append(validate.Length(min=1, error=_MESSAGES["required"]))
        field = fields.String(validate=validators, **kwargs)
    return field


def build_schema(form: list[dict], name: str = "TaskForm") -> type[Schema]:
    """A marshmallow Schema class for one task's form; readonly fields are not accepted from the user."""
    attrs: dict = {name_: _field_for(spec) for spec in form if not spec.get("readonly") for name_ in [spec["id"]]}

    class Meta:
        unknown = RAISE

    attrs["Meta"] = Meta
    return Schema.from_dict(attrs, name=name)


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
        raise InvalidData("表单数据必须是对象 / form data must be a JSON object", {"data": ["must be an object"]})
    case_data.check_data(data, rt.settings.data_limits, rt.helpers)
    try:
        return _instance(schema, EXCLUDE if partial_unknown else RAISE).load(data, partial=partial)
    except ValidationError as exc:
        messages = {key: (value if isinstance(value, list) else [str(value)]) for key, value in exc.messages.items()}
        unknown = sorted(key for key, value in messages.items() if value == ["Unknown field."])
        if unknown:
            raise InvalidData(f"表单没有这些项 / unknown field(s): {', '.join(unknown)}", messages) from exc
        raise InvalidData("表单校验失败 / form validation failed", messages) from exc
