"""BPMN task forms in HTML: turn a submission into form data for the engine, and values back into inputs."""
from __future__ import annotations

from collections.abc import Mapping

from flask_babel import gettext

from engine import form_rules
from engine.forms import fields_by_id
from engine.group_cases import flags
from webui.extensions import current_runtime
from webui.i18n import local_dt, localize

RADIO_MAX = 4  # enums with this many values or fewer render as radio buttons, longer ones as a <select>


def editable(fields: list[dict]) -> list[dict]:
    return [f for f in fields if not f.get("readonly")]


def show_rule(spec: Mapping) -> tuple[str, str, str] | None:
    """A field's jiefen.show_if for the page's script: (field, '==' or '!=', the value as the browser sends
    it: 'true'/'false' for yes/no, numbers written out)."""
    rule = form_rules.parse_show_if(spec.get("show_if"))
    if rule is None:
        return None
    name, op, literal = rule
    return name, op, ("true" if literal else "false") if isinstance(literal, bool) else str(literal)


def applies(spec: Mapping, values: Mapping) -> bool:
    """Whether the field applies to the values shown (hidden on the page when not)."""
    return form_rules.applies(spec, values)


def today_iso() -> str:
    """Today in China time on the runtime's clock (a date input's `max` for `today`)."""
    from engine.clock import CHINA_TZ
    from webui.extensions import current_runtime

    return current_runtime().clock.now().astimezone(CHINA_TZ).date().isoformat()


def groups_of(fields: list[dict]) -> dict[str, list[dict]]:
    """The repeatable groups of a form (jiefen.group): key -> its columns, in form order."""
    groups: dict[str, list[dict]] = {}
    for spec in fields:
        if spec.get("group"):
            groups.setdefault(spec["group"], []).append(spec)
    return groups


def _value_of(spec: Mapping, raw):
    return {"true": True, "false": False}.get(raw, raw) if spec["type"].lower() == "boolean" else raw


def _group_rows(key: str, columns: list[dict], formdata: Mapping) -> list[dict]:
    """The rows of a repeatable group as submitted (inputs named `<key>-<row>-<column>`), in row order; a row
    left wholly blank is dropped, an empty optional cell is left out, an empty required one too (the engine
    names it)."""
    indexes = sorted({int(name.split("-")[1]) for name in formdata
                      if name.startswith(key + "-") and name.count("-") >= 2 and name.split("-")[1].isdigit()})
    rows = []
    for index in indexes:
        row = {}
        for spec in columns:
            raw = formdata.get(f"{key}-{index}-{spec['id']}")
            raw = raw.strip() if isinstance(raw, str) else raw
            if raw not in (None, ""):
                row[spec["id"]] = _value_of(spec, raw)
        if row:
            rows.append(row)
    return rows


def submitted_data(fields: list[dict], formdata: Mapping) -> dict:
    """The engine's form data from an HTML submission: empty required fields are left out (so the engine
    reports them as required), empty optional ones clear the value; booleans come from yes/no radios. A field
    whose jiefen.show_if does not hold is left out (the engine takes no value for it). A repeatable group
    (jiefen.group) is a list of its rows."""
    data: dict = {}
    for key, columns in groups_of(editable(fields)).items():
        rows = _group_rows(key, columns, formdata)
        if rows or not any(c.get("required") for c in columns):
            data[key] = rows
    for spec in editable(fields):
        if spec.get("group"):
            continue
        if not form_rules.applies(spec, formdata):
            continue
        if spec.get("multiple"):  # jiefen.multiple: the checked boxes, a list (empty: nothing chosen)
            chosen = [v for v in (formdata.getlist(spec["id"]) if hasattr(formdata, "getlist")
                                  else formdata.get(spec["id"]) or []) if v]
            if chosen or not spec.get("required"):
                data[spec["id"]] = chosen
            continue
        raw = formdata.get(spec["id"])
        raw = raw.strip() if isinstance(raw, str) else raw
        if raw in (None, ""):
            if not spec.get("required"):
                data[spec["id"]] = None
            continue
        if spec["type"].lower() == "boolean":
            data[spec["id"]] = {"true": True, "false": False}.get(raw, raw)
        else:
            data[spec["id"]] = raw
    return data


def shown_values(fields: list[dict], case_data: Mapping | None, formdata: Mapping | None = None) -> dict:
    """What each input shows: the submission being corrected, else the case's current data, else the default
    (a list of the chosen values for a multi-select)."""
    values: dict = {}
    for key, columns in groups_of(fields).items():
        if formdata is not None:
            rows = _group_rows(key, columns, formdata)
        else:
            rows = [r for r in ((case_data or {}).get(key) or []) if isinstance(r, Mapping)]
        values[key] = [{c["id"]: ("true" if r.get(c["id"]) is True else "false" if r.get(c["id"]) is False
                                  else "" if r.get(c["id"]) is None else str(r.get(c["id"]))) for c in columns}
                       for r in rows]
    for spec in fields:
        key = spec["id"]
        if spec.get("group"):
            continue
        if spec.get("multiple"):
            if formdata is not None and not spec.get("readonly"):
                chosen = formdata.getlist(key) if hasattr(formdata, "getlist") else formdata.get(key)
            else:
                chosen = (case_data or {}).get(key)
            values[key] = [str(v) for v in chosen or []] if isinstance(chosen, list) else []
            continue
        if formdata is not None and not spec.get("readonly"):
            value = formdata.get(key)
        elif case_data is not None and case_data.get(key) is not None:
            value = case_data.get(key)
        else:
            value = suggested_value(spec, case_data)
            if value is None:
                value = spec.get("default")
        if isinstance(value, bool):
            value = "true" if value else "false"
        values[key] = "" if value is None else str(value)
    return values


def suggested_value(spec: Mapping, case_data: Mapping | None):
    """The value a field's jiefen.suggestion names in the case data (`name` or `name.key`), or None."""
    path = spec.get("suggestion")
    if not path or not case_data:
        return None
    name, _, key = path.partition(".")
    value = case_data.get(name)
    if key:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, (str, int, float, bool)) else None


def suggestions(fields: list[dict], case_data: Mapping | None) -> dict:
    """Each field's suggested value (jiefen.suggestion), as the form shows it beside the field (建议)."""
    out = {}
    for spec in fields:
        value = suggested_value(spec, case_data)
        if value is not None:
            out[spec["id"]] = display_value(spec, value)
    return out


def field_errors(details) -> tuple[dict[str, list[str]], list[str]]:
    """Engine InvalidData details (field → [messages]) in the UI language; messages not about a form field
    (e.g. the schema as a whole) come back separately."""
    by_field: dict[str, list[str]] = {}
    general: list[str] = []
    if isinstance(details, Mapping):
        for key, messages in details.items():
            if isinstance(messages, Mapping) and all(isinstance(v, Mapping) for v in messages.values()):
                # a repeatable group's rows (marshmallow: {row: {column: [messages]}}): "第 n 行" per message
                by_field[str(key)] = [gettext("Row %(n)s: %(message)s", n=int(row) + 1, message=localize(m))
                                      for row, cells in messages.items() for ms in cells.values()
                                      for m in (ms if isinstance(ms, list) else [ms])]
                continue
            if isinstance(messages, Mapping):  # nested (marshmallow per-index errors)
                messages = [m for value in messages.values() for m in (value if isinstance(value, list) else [value])]
            if not isinstance(messages, list):
                messages = [messages]
            by_field[str(key)] = [localize(m) for m in messages]
    elif details:
        general.append(localize(details))
    return by_field, general


def display_value(spec: dict | None, value) -> str:
    """A case data value for people: enum display names, yes/no, a moment as YYYY-MM-DD HH:MM China time,
    empty as a dash."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    if isinstance(value, list) and spec and spec.get("type") == "group":  # rows: "label：value，…；" per row
        columns = spec.get("columns") or []
        return "；".join("，".join(f"{c.get('label') or c['id']}：{display_value(c, row.get(c['id']))}"
                                 for c in columns if isinstance(row, Mapping) and row.get(c["id"]) not in (None, ""))
                        for row in value) or "—"
    if isinstance(value, list):  # a multi-select (jiefen.multiple): the names of the chosen values
        return "、".join(display_value(spec, item) for item in value) or "—"
    if spec and spec.get("enum"):
        for enum_id, name, *_roles in spec["enum"]:
            if enum_id == value:
                return name
    if isinstance(value, str) and len(value) > 10 and value[4:5] == "-" and value[10:11] in ("T", " "):
        shown = local_dt(value)  # an ISO moment (e.g. a deadline a script computed); other text stays as it is
        if shown != value:
            return shown
    return str(value)


def labelled_changes(meta: Mapping, changes: Mapping | None, spec_name: str | None = None,
                     submitted: Mapping | None = None) -> list[tuple[str, str, str]]:
    """A history event's data changes as staff read them: (label, before, after), labelled by the form of the
    task that wrote them, else by any form of the version defining that field, else by the process's
    designer-declared label (jiefen.label.<var>, docs/designers.md). Data none of these names (a script's
    working variables) is left out; the API keeps the raw changes for auditors. With `submitted` (a case's start:
    the data it was opened with), only those fields are shown — the process's initial values (处理结果=未化解 before
    any mediation) are defaults, not something that happened."""
    own = {f["id"]: f for f in ((meta.get("user_tasks") or {}).get(spec_name) or {}).get("form") or []} \
        if spec_name else {}
    every = fields_by_id(meta)
    declared = meta.get("data_labels") or {}
    order = {key: n for n, key in enumerate([*own, *every, *declared])}  # as the forms list them
    rows: list[tuple[int, str, str, str]] = []
    for key, pair in (changes or {}).items():
        spec = own.get(key) or every.get(key) or declared.get(key)
        if spec is None or not isinstance(pair, (list, tuple)) or len(pair) != 2:
            continue
        if submitted is not None and key not in submitted:
            continue
        rows.append((order[key], spec.get("label") or key, display_value(spec, pair[0]), display_value(spec, pair[1])))
    return [row[1:] for row in sorted(rows, key=lambda row: row[0])]


def entered_fields(case) -> set[str]:
    """The case's data keys someone entered (engine/services/history.entered_fields), for the case summary."""
    from engine.services import history
    from webui.extensions import db

    return history.entered_fields(db.session, case.id)


def case_category(case) -> str:
    """The case's category as its registration form names it (e.g. 征地拆迁, not expropriation)."""
    from engine.services.processes import load_version
    from webui.extensions import db

    meta = load_version(db.session, case.process_version_id).meta  # cached per version
    return display_value(fields_by_id(meta).get("category"), case.category)


def case_flags(case) -> list[str]:
    """群体性 / 高风险 marks of a case (engine/group_cases.flags), for every list and page that shows it."""
    return [reason.partition("（")[0] for reason in flags(case.data, current_runtime().settings)]
