"""Marshmallow schemas of the API: request shapes (validated in views) and response shapes (OpenAPI)."""
from __future__ import annotations

from datetime import datetime

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from engine.access import mask_data
from engine.clock import CHINA_TZ
from engine.models import OUTCOME_CLASSES
from engine.services.timers import LEVEL_NAMES


def _no_nul(value: str) -> None:
    """PostgreSQL's text cannot hold NUL: refuse it with the field's name, not a 500 from the database."""
    if "\x00" in value:
        raise ValidationError("不能含 NUL 字符 / must not contain NUL characters")


class TokenRequest(Schema):
    username = fields.String(required=True, validate=[validate.Length(min=1, max=64), _no_nul])
    password = fields.String(required=True, validate=validate.Length(min=1, max=512))


class TokenResponse(Schema):
    token = fields.String(required=True)
    id = fields.Integer(required=True)
    expires_at = fields.String(required=True, metadata={"format": "date-time"})


def _time(**kwargs) -> fields.String:
    """A moment as the API sends it: an ISO 8601 string in China time (+08:00), made by `iso` below."""
    return fields.String(metadata={"format": "date-time"}, **kwargs)


# Response schemas: `required=True` says the field is always in the answer (null where allow_none), so the
# OpenAPI document promises only what every response holds; the views return dicts these schemas dump.

class ProcessSchema(Schema):
    process_id = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "the active version (as active_version)"})
    active_version = fields.Integer(required=True, metadata={"description": "the version new cases start on"})
    sha256 = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    deployed_at = _time(required=True)
    file_name = fields.String(required=True)


class VersionSchema(Schema):
    version = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    file_name = fields.String(required=True)
    deployed_at = _time(required=True)
    deployed_by = fields.String(required=True, allow_none=True)
    note = fields.String(required=True, allow_none=True, metadata={"description": "the change note"})
    active = fields.Boolean(required=True)
    open_cases = fields.Integer(required=True, metadata={"description": "open cases running on this version"})


class ProcessVersions(Schema):
    process_id = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    active_version = fields.Integer(required=True)
    newest_version = fields.Integer(required=True)
    versions = fields.List(fields.Nested(VersionSchema), required=True, metadata={"description": "newest first"})


class ProblemSchema(Schema):
    element_id = fields.String(required=True, allow_none=True, metadata={"description": "the BPMN element at fault"})
    line = fields.Integer(required=True, allow_none=True)
    message = fields.String(required=True)
    severity = fields.String(required=True, metadata={"description": "error: the file would be refused"})
    file = fields.String(required=True, allow_none=True)


class ValidationResult(Schema):
    problems = fields.List(fields.Nested(ProblemSchema), required=True, metadata={"description": "empty: it would deploy"})


class ActivateRequest(Schema):
    version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    note = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=2000), _no_nul])


class VersionDiffQuery(Schema):
    from_version = fields.Integer(required=True, validate=validate.Range(min=1, max=10**9))
    to_version = fields.Integer(required=True, validate=validate.Range(min=1, max=10**9))


class VersionDiff(Schema):
    from_version = fields.Integer(required=True)
    to_version = fields.Integer(required=True)
    items = fields.List(fields.Nested("ElementChangeSchema"), required=True,
                        metadata={"description": "to_version's elements in order, then the removed ones"})


_ELEMENT_ID = fields.String(validate=[validate.Length(min=1, max=200), _no_nul])


class MigrationRequest(Schema):
    from_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10**9))
    to_version = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10**9))
    task_mapping = fields.Dict(keys=_ELEMENT_ID, values=_ELEMENT_ID, load_default=dict, validate=validate.Length(max=200),
                               metadata={"description": "user task id in from_version -> user task id in to_version, "
                                                        "for open steps the new version renamed or replaced"})
    dry_run = fields.Boolean(load_default=True, metadata={"description": "true (the default): report, move nothing"})
    case_ids = fields.List(fields.Integer(strict=True), load_default=None, allow_none=True,
                           validate=validate.Length(max=10000),
                           metadata={"description": "the cases to move (default: every movable open case of from_version)"})
    note = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=2000), _no_nul])


class StepMoveSchema(Schema):
    task_id = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "task (a user task) | timer (a waiting timer)"})
    from_id = fields.String(required=True)
    from_name = fields.String(required=True)
    to_id = fields.String(required=True, allow_none=True, metadata={"description": "null: no counterpart"})
    to_name = fields.String(required=True, allow_none=True)


class CaseMigrationSchema(Schema):
    case_id = fields.Integer(required=True)
    code = fields.String(required=True)
    movable = fields.Boolean(required=True)
    selected = fields.Boolean(required=True)
    migrated = fields.Boolean(required=True, metadata={"description": "moved by this (real) run"})
    steps = fields.List(fields.Nested(StepMoveSchema), required=True)
    reasons = fields.List(fields.String(), required=True, metadata={"description": "why it cannot move (empty: it can)"})
    warnings = fields.List(fields.String(), required=True)


class MigrationReportSchema(Schema):
    process_id = fields.String(required=True)
    from_version = fields.Integer(required=True)
    to_version = fields.Integer(required=True)
    dry_run = fields.Boolean(required=True)
    task_mapping = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    migrated = fields.Integer(required=True)
    cases = fields.List(fields.Nested(CaseMigrationSchema), required=True)


def migration_json(report, text) -> dict:
    """A migration report; `text` renders an engine message (the API's "中文 / English")."""
    return {"process_id": report.process_id, "from_version": report.from_version, "to_version": report.to_version,
            "dry_run": report.dry_run, "task_mapping": report.task_mapping, "migrated": report.migrated,
            "cases": [{"case_id": c.case_id, "code": c.code, "movable": c.movable, "selected": c.selected,
                       "migrated": c.migrated, "steps": [vars(step) for step in c.steps],
                       "reasons": [text(r) for r in c.reasons], "warnings": [text(w) for w in c.warnings]}
                      for c in report.cases]}


class AuditEntrySchema(Schema):
    at = _time(required=True)
    actor = fields.String(required=True, allow_none=True)
    action = fields.String(required=True, metadata={
        "description": "deployed | activated | decision_deployed | migrated | submitted | returned | decision_submitted | "
                       "decision_returned"})
    process_id = fields.String(required=True)
    version = fields.Integer(required=True)
    note = fields.String(required=True, allow_none=True)


class AuditList(Schema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)


def process_versions_json(info) -> dict:
    return {"process_id": info.process_id, "name": info.name, "active_version": info.active_version,
            "newest_version": info.newest_version,
            "versions": [{**{k: getattr(v, k) for k in ("version", "sha256", "name", "file_name", "deployed_by",
                                                          "note", "active", "open_cases")},
                          "deployed_at": iso(v.deployed_at)} for v in info.versions]}


class ProcessDraftSchema(Schema):
    id = fields.Integer(required=True)
    process_id = fields.String(required=True, allow_none=True,
                               metadata={"description": "null: a new process, not deployed yet"})
    base_version = fields.Integer(required=True, allow_none=True,
                                  metadata={"description": "the deployed version it was opened from"})
    author = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    updated_at = _time(required=True)
    xml = fields.String(required=True, allow_none=True,
                        metadata={"description": "the BPMN XML when one draft is read or started; null in lists and saves"})
    submitted_at = _time(required=True, allow_none=True)  # submitted for deployment (administrators see it)
    submit_note = fields.String(required=True, allow_none=True)
    returned_at = _time(required=True, allow_none=True)  # sent back by an administrator, with return_note
    returned_by = fields.String(required=True, allow_none=True)
    return_note = fields.String(required=True, allow_none=True)


class DraftNoteRequest(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=2000), _no_nul])


class ProcessDraftList(Schema):
    items = fields.List(fields.Nested(ProcessDraftSchema), required=True, metadata={"description": "latest saved first"})


class ElementChangeSchema(Schema):
    element_id = fields.String(required=True)
    change = fields.String(required=True, metadata={"description": "added | removed | changed"})
    type = fields.String(required=True, metadata={"description": "the BPMN element: userTask, sequenceFlow, …"})
    name = fields.String(required=True, allow_none=True)
    what = fields.List(fields.String(), required=True, metadata={
        "description": "for changed: attribute names (name, camunda:candidateGroups, …) and parts (documentation, "
                       "condition, form, properties, timer, …)"})
    source = fields.Dict(required=True, allow_none=True, metadata={
        "description": "a sequence flow's source: {name, type} (names an unnamed flow by its ends)"})
    target = fields.Dict(required=True, allow_none=True, metadata={"description": "a sequence flow's target: {name, type}"})
    condition = fields.String(required=True, allow_none=True, metadata={"description": "a sequence flow's condition"})


class ProcessDraftDiff(Schema):
    base_version = fields.Integer(required=True, allow_none=True,
                                  metadata={"description": "null: a new process, nothing to compare"})
    items = fields.List(fields.Nested(ElementChangeSchema), required=True,
                        metadata={"description": "the draft's elements in order, then the removed ones"})


class ProcessDraftCreateRequest(Schema):
    process_id = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=200), _no_nul],
                               metadata={"description": "open a deployed process (its active version)"})
    version = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1),
                             metadata={"description": "with process_id: another version than the active one"})
    new_process_id = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=200), _no_nul],
                                   metadata={"description": "a new process from the template, with this id"})
    name = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=300), _no_nul])

    @validates_schema
    def _one_source(self, data, **kwargs):
        if bool(data.get("process_id")) == bool(data.get("new_process_id")):
            raise ValidationError("process_id 与 new_process_id 须且只须给出一个 / give exactly one of process_id "
                                  "and new_process_id", field_name="process_id")


class ProcessDraftSaveRequest(Schema):
    xml = fields.String(required=True, validate=[validate.Length(min=1), _no_nul])
    name = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=300), _no_nul])


class ProcessDraftDeployRequest(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=2000), _no_nul])


def draft_json(d) -> dict:
    out = {"id": d.id, "process_id": d.process_id, "base_version": d.base_version, "author": d.author,
           "name": d.name, "updated_at": iso(d.updated_at), "xml": d.xml,
           "submitted_at": iso(d.submitted_at), "submit_note": d.submit_note, "returned_at": iso(d.returned_at),
           "returned_by": d.returned_by, "return_note": d.return_note}
    return out


class DecisionDraftSchema(Schema):
    id = fields.Integer(required=True)
    decision_id = fields.String(required=True, allow_none=True,
                                metadata={"description": "null: a new decision table, not deployed yet"})
    target = fields.String(required=True, metadata={"description": "the decision it deploys as"})
    base_version = fields.Integer(required=True, allow_none=True,
                                  metadata={"description": "the deployed version it was opened from"})
    author = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    updated_at = _time(required=True)
    xml = fields.String(required=True, allow_none=True,
                        metadata={"description": "the DMN XML when one draft is read or started; null in lists and saves"})
    submitted_at = _time(required=True, allow_none=True)  # submitted for deployment (administrators see it)
    submit_note = fields.String(required=True, allow_none=True)
    returned_at = _time(required=True, allow_none=True)  # sent back by an administrator, with return_note
    returned_by = fields.String(required=True, allow_none=True)
    return_note = fields.String(required=True, allow_none=True)


class DecisionDraftList(Schema):
    items = fields.List(fields.Nested(DecisionDraftSchema), required=True, metadata={"description": "latest saved first"})


class DecisionDraftCreateRequest(Schema):
    decision_id = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=200), _no_nul],
                                metadata={"description": "open a deployed decision table (its newest version)"})
    version = fields.Integer(load_default=None, allow_none=True, strict=True, validate=validate.Range(min=1),
                             metadata={"description": "with decision_id: another version than the newest"})
    new_decision_id = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=200), _no_nul],
                                    metadata={"description": "a new decision table from the template, with this id"})
    name = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=300), _no_nul])

    @validates_schema
    def _one_source(self, data, **kwargs):
        if bool(data.get("decision_id")) == bool(data.get("new_decision_id")):
            raise ValidationError("decision_id 与 new_decision_id 须且只须给出一个 / give exactly one of decision_id "
                                  "and new_decision_id", field_name="decision_id")


class DecisionDraftSaveRequest(Schema):
    xml = fields.String(required=True, validate=[validate.Length(min=1), _no_nul])


class FieldChangeSchema(Schema):
    field = fields.String(required=True, metadata={
        "description": "name | hit_policy | aggregation | label | expression | type | output_name | values | "
                       "description | cell (then column names the column)"})
    old = fields.String(required=True, allow_none=True)
    new = fields.String(required=True, allow_none=True)
    column = fields.String(required=True, allow_none=True, metadata={"description": "a cell's column label"})


class TableChangeSchema(Schema):
    decision_id = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "decision | input | output | rule"})
    change = fields.String(required=True, metadata={"description": "added | removed | changed | moved"})
    element_id = fields.String(required=True)
    label = fields.String(required=True, allow_none=True,
                          metadata={"description": "a decision's name, a column's label, a rule's description"})
    number = fields.Integer(required=True, allow_none=True,
                            metadata={"description": "a rule's number (as the editor shows it; the old one if removed)"})
    old_number = fields.Integer(required=True, allow_none=True,
                                metadata={"description": "a changed or moved rule's number in the old table"})
    fields_ = fields.List(fields.Nested(FieldChangeSchema), required=True, data_key="fields")


class DecisionDiff(Schema):
    base_version = fields.Integer(required=True, allow_none=True,
                                  metadata={"description": "the older side (null: a new table, nothing to compare)"})
    version = fields.Integer(required=True, allow_none=True,
                             metadata={"description": "the newer side (null: the draft)"})
    items = fields.List(fields.Nested(TableChangeSchema), required=True)


def decision_draft_json(d) -> dict:
    return {"id": d.id, "decision_id": d.decision_id, "target": d.target, "base_version": d.base_version,
            "author": d.author, "name": d.name, "updated_at": iso(d.updated_at), "xml": d.xml,
            "submitted_at": iso(d.submitted_at), "submit_note": d.submit_note, "returned_at": iso(d.returned_at),
            "returned_by": d.returned_by, "return_note": d.return_note}


def table_change_json(c) -> dict:
    return {"decision_id": c.decision_id, "kind": c.kind, "change": c.change, "element_id": c.element_id,
            "label": c.label, "number": c.number, "old_number": c.old_number,
            "fields_": [vars(f) for f in c.fields]}


class ProcessList(Schema):
    items = fields.List(fields.Nested(ProcessSchema), required=True)


class DeployedProcess(Schema):
    process_id = fields.String(required=True)
    version = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    created = fields.Boolean(required=True, metadata={"description": "false: identical to the deployed version"})


class DeployResult(Schema):
    process_id = fields.String(required=True, metadata={"description": "the first process of the file"})
    version = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    processes = fields.List(fields.Nested(DeployedProcess), required=True,
                            metadata={"description": "every process of the file (a file may hold several)"})


class DecisionVersionSchema(Schema):
    version = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    file_name = fields.String(required=True)
    deployed_at = _time(required=True)
    deployed_by = fields.String(required=True, allow_none=True)
    note = fields.String(required=True, allow_none=True, metadata={"description": "the change note"})


class DecisionSchema(Schema):
    decision_id = fields.String(required=True)
    name = fields.String(required=True, allow_none=True)
    latest_version = fields.Integer(required=True, metadata={"description": "what processes deployed now embed"})
    hit_policy = fields.String(required=True)
    used_by = fields.List(fields.String(), required=True,
                          metadata={"description": "processes whose active version uses the decision"})
    versions = fields.List(fields.Nested(DecisionVersionSchema), required=True, metadata={"description": "newest first"})


class DecisionList(Schema):
    items = fields.List(fields.Nested(DecisionSchema), required=True)


class DecisionXml(Schema):
    decision_id = fields.String(required=True)
    version = fields.Integer(required=True)
    xml = fields.String(required=True, metadata={"description": "the DMN file of that version"})


class DeployedDecision(Schema):
    decision_id = fields.String(required=True)
    version = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    created = fields.Boolean(required=True, metadata={"description": "false: identical to the deployed version"})


class DecisionDeployResult(Schema):
    decision_id = fields.String(required=True, metadata={"description": "the first decision of the file"})
    version = fields.Integer(required=True)
    sha256 = fields.String(required=True)
    decisions = fields.List(fields.Nested(DeployedDecision), required=True)
    processes = fields.List(fields.Nested(DeployedProcess), required=True,
                            metadata={"description": "processes given a new version as they use a changed table"})


def decision_json(info) -> dict:
    return {"decision_id": info.decision_id, "name": info.name, "latest_version": info.latest_version,
            "hit_policy": info.hit_policy, "used_by": info.used_by,
            "versions": [{**vars(v), "deployed_at": iso(v.deployed_at)} for v in info.versions]}


class StartCaseRequest(Schema):
    process_id = fields.String(required=True, validate=[validate.Length(min=1, max=200), _no_nul])
    data = fields.Dict(keys=fields.String(), load_default=dict)
    org_unit = fields.String(load_default=None, allow_none=True, validate=_no_nul)
    repeat_of = fields.Integer(load_default=None, allow_none=True, validate=validate.Range(min=1, max=2**31 - 1),
                               metadata={"description": "a case of the same party this one repeats (重复件; "
                                                        "GET /cases/same-party finds them): linked as a repeat"})


class CompleteRequest(Schema):
    data = fields.Dict(keys=fields.String(), load_default=dict)
    lock_version = fields.Integer(load_default=None, allow_none=True)


class DraftRequest(Schema):
    data = fields.Dict(keys=fields.String(), required=True,
                       metadata={"description": "the form's values as entered so far (form field id -> value)"})


class DraftSchema(Schema):
    """A task's saved draft (保存草稿): its holder's entry, not yet in the case data."""

    task_id = fields.String(required=True)
    username = fields.String(required=True)
    data = fields.Dict(keys=fields.String(), required=True)
    saved_at = fields.String(required=True)


class UrgeSchema(Schema):
    """The last manual 催办 of a task (a supervisor's or director's, tasks/{id}/urge)."""

    at = _time(required=True)
    by = fields.String(required=True, metadata={"description": "username of who sent it"})
    note = fields.String(required=True)


class TaskSchema(Schema):
    id = fields.String(required=True)
    case_id = fields.Integer(required=True)
    case_code = fields.String(required=True)
    name = fields.String(required=True, metadata={"description": "the BPMN element id of the user task"})
    title = fields.String(required=True)
    roles = fields.List(fields.String(), required=True, metadata={"description": "candidate roles"})
    assignee = fields.String(required=True, allow_none=True)
    due_at = _time(required=True, allow_none=True)
    warning_level = fields.Integer(required=True, metadata={"description": "0 none, 1 提示, 2 催办, 3 督办, 4 挂牌督办"})
    warning = fields.String(required=True, allow_none=True)
    org_unit = fields.String(required=True, metadata={"description": "code of the unit whose staff act on it"})
    kind = fields.String(required=True, metadata={
        "description": "bpmn | supervision (a ladder follow-up) | consultation (群体性/高风险 alert, 会商研判)"})
    due_basis = fields.String(required=True, allow_none=True)
    created_at = _time(required=True)
    urge = fields.Nested(UrgeSchema, required=True, allow_none=True,
                         metadata={"description": "the last manual 催办 (null: none)"})


class ReassignRequest(Schema):
    username = fields.String(required=True, validate=[validate.Length(min=1, max=64), _no_nul],
                             metadata={"description": "who gets the task: a user holding its role at its unit "
                                                      "(tasks/{id}/assignees lists them)"})


class UrgeRequest(Schema):
    note = fields.String(required=True, validate=_no_nul,
                         metadata={"description": "what the 催办 asks of the task's holder (at most 500 characters)"})


class AssigneeSchema(Schema):
    username = fields.String(required=True)
    display_name = fields.String(required=True, allow_none=True)


class AssigneeList(Schema):
    items = fields.List(fields.Nested(AssigneeSchema), required=True)


class UnitRef(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)


class EnumOption(Schema):
    id = fields.String(required=True, metadata={"description": "the value; a unit's code for jiefen.options units"})
    name = fields.String(required=True)
    roles = fields.List(fields.String(), metadata={"description": "units (jiefen.options): the roles staffed"})
    presence = fields.Nested(lambda: UnitPresence(), metadata={
        "description": "a resident department (jiefen.options units): its presence and whether it is there today"})


class UnitPresence(Schema):
    presence = fields.String(required=True, metadata={"description": "resident (常驻) | rota (轮驻) | on_call (随驻)"})
    rota_days = fields.List(fields.Integer(), required=True, metadata={"description": "a rota's ISO weekdays (1 Monday)"})
    today = fields.String(required=True, metadata={"description": "present | absent | on_call | rest_day (China today)"})
    note = fields.String(required=True, metadata={
        "description": "for the dispatcher, in the reader's language (今日不在岗（轮驻：周二、周四）); empty when on duty"})


class FormFieldSchema(Schema):
    """One field of a task's form (camunda:formField); constraints that do not apply are left out."""

    id = fields.String(required=True)
    label = fields.String(required=True)
    type = fields.String(required=True, metadata={"description": "string | long | double | boolean | date | enum"})
    required = fields.Boolean(required=True)
    readonly = fields.Boolean(required=True)
    enum = fields.List(fields.Nested(EnumOption))
    multiple = fields.Boolean(required=True,
                              metadata={"description": "an enum of which several values are chosen (a list)"})
    options_from = fields.String(metadata={"description": "where the options come from (org_units_below)"})
    default = fields.String()
    min = fields.Float()
    max = fields.Float()
    min_date = fields.String(metadata={"description": "a date field's earliest value: 'today' or YYYY-MM-DD"})
    max_date = fields.String(metadata={"description": "a date field's latest value: 'today' (no future date) "
                                                      "or YYYY-MM-DD"})
    minlength = fields.Integer()
    maxlength = fields.Integer()
    phone = fields.Boolean(metadata={"description": "must be a mainland mobile or a landline with area code"})
    show_if = fields.String(metadata={"description": "jiefen.show_if: the field applies only while this holds "
                                                     "(`field == 'value'` / `!=`); otherwise not required, "
                                                     "its value not taken"})


class TaskDetailSchema(TaskSchema):
    form = fields.List(fields.Nested(FormFieldSchema), required=True)
    can_act = fields.Boolean(required=True, metadata={"description": "the caller may claim or complete it"})


class TaskList(Schema):
    items = fields.List(fields.Nested(TaskSchema), required=True)
    total = fields.Integer(required=True, metadata={"description": "matching tasks, counted up to 1000"})
    total_capped = fields.Boolean(required=True, metadata={"description": "true: more than `total` tasks match"})
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class TaskListQuery(Schema):
    overdue = fields.Boolean(load_default=False)
    assigned = fields.String(load_default=None, validate=validate.OneOf(["me", "none"]))
    q = fields.String(load_default=None, validate=_no_nul)
    process_id = fields.String(load_default=None, validate=_no_nul)
    category = fields.String(load_default=None, validate=_no_nul)
    scope = fields.String(load_default="mine", validate=validate.OneOf(["mine", "supervised", "all"]))
    sort = fields.String(load_default="due", validate=validate.OneOf(["due", "-due", "created", "-created", "warning"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class TaskPath(Schema):
    task_id = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9A-Za-z-]{1,40}$", error="不是任务编号 / not a task id"),
        metadata={"description": "a task's id: a UUID, sv-N… for a supervision follow-up, gc-N… for a "
                                 "群体性/高风险 alert or 会商研判"})


class TimerSchema(Schema):
    due_at = _time(required=True)
    kind = fields.String(required=True, metadata={"description": "bpmn | ladder"})
    name = fields.String(required=True)


class CaseSchema(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "open | closed"})
    outcome = fields.String(required=True, allow_none=True)
    outcome_class = fields.String(required=True, allow_none=True, metadata={
        "description": "a closed case's outcome class: resolved (化解) | unresolved (未化解) | withdrawn (撤回) | "
                       "transferred (移送) | not_accepted (不予受理); null while open or when its end event has none"})
    outcome_class_name = fields.String(required=True, allow_none=True, metadata={"description": "its Chinese name"})
    process_id = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "the process version the case runs on"})
    data = fields.Dict(keys=fields.String(), required=True,
                       metadata={"description": "the case data; its fields are the process's own"})
    org_unit = fields.String(required=True, metadata={"description": "code of the unit handling the case now"})
    org_unit_name = fields.String(required=True)
    responsible_unit = fields.Nested(UnitRef, required=True,
                                     metadata={"description": "the center responsible (the one that 交办 it down)"})
    first_unit = fields.Nested(UnitRef, required=True,
                               metadata={"description": "the unit that registered it (首问负责: gives feedback)"})
    category = fields.String(required=True, allow_none=True)
    tier = fields.String(required=True, allow_none=True)
    channel = fields.String(required=True, allow_none=True)
    opened_at = _time(required=True)
    closed_at = _time(required=True, allow_none=True)
    opened_by = fields.String(required=True, allow_none=True)
    linked_case_id = fields.Integer(required=True, allow_none=True)
    link_kind = fields.String(required=True, allow_none=True)
    lock_version = fields.Integer(required=True)
    tasks = fields.List(fields.Nested(TaskSchema), required=True, metadata={"description": "open tasks"})
    timers = fields.List(fields.Nested(TimerSchema), required=True, metadata={"description": "pending, soonest first"})


class EventSchema(Schema):
    seq = fields.Integer(required=True)
    at = _time(required=True)
    actor = fields.String(required=True, allow_none=True)
    type = fields.String(required=True)
    task = fields.String(required=True, allow_none=True, metadata={"description": "the task's BPMN element id"})
    task_id = fields.String(required=True, allow_none=True)
    payload = fields.Dict(keys=fields.String(), required=True,
                          metadata={"description": "what happened; its fields depend on the event type"})
    prev_hash = fields.String(required=True)
    hash = fields.String(required=True)


class EventList(Schema):
    items = fields.List(fields.Nested(EventSchema), required=True)


class AttachmentSchema(Schema):
    id = fields.Integer(required=True)
    case_id = fields.Integer(required=True)
    task_id = fields.String(required=True, allow_none=True)
    name = fields.String(required=True, metadata={"description": "the file's name as uploaded (base name only)"})
    size = fields.Integer(required=True, metadata={"description": "bytes"})
    type = fields.String(required=True, metadata={"description": "the content type, judged from the bytes"})
    sha256 = fields.String(required=True)
    uploaded_by = fields.String(required=True)
    uploaded_at = fields.String(required=True)
    download_url = fields.String(required=True)


class AttachmentList(Schema):
    items = fields.List(fields.Nested(AttachmentSchema), required=True)


class IssueDocumentRequest(Schema):
    kind = fields.String(required=True, validate=[validate.Length(min=1, max=40), _no_nul], metadata={
        "description": "receipt, mediation_agreement, acceptance_notice, rejection_notice, handling_opinion, "
                       "recheck_opinion, review_opinion, supervision_notice, jc_application, termination_notice"})


class DocumentSchema(Schema):
    id = fields.Integer(required=True)
    case_id = fields.Integer(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True, metadata={"description": "the document's name, e.g. 人民调解协议书"})
    version = fields.Integer(required=True, metadata={"description": "1, 2 … per kind: a re-issue is a new version"})
    sha256 = fields.String(required=True, metadata={"description": "of the PDF, as recorded in the case's chain"})
    size = fields.Integer(required=True, metadata={"description": "bytes of the PDF"})
    html_sha256 = fields.String(required=True)
    issued_by = fields.String(required=True)
    issued_at = fields.String(required=True)
    pdf_url = fields.String(required=True)
    html_url = fields.String(required=True)


class DocumentList(Schema):
    items = fields.List(fields.Nested(DocumentSchema), required=True)
    kinds = fields.Dict(keys=fields.String(), values=fields.String(), required=True, metadata={
        "description": "the kinds this case may issue: kind -> title"})


class VerifySchema(Schema):
    chain_ok = fields.Boolean(required=True)
    replay_ok = fields.Boolean(required=True)
    files_ok = fields.Boolean(required=True, metadata={
        "description": "every attached file is stored and hashes to its recorded SHA-256 (else named in problems)"})
    events = fields.Integer(required=True)
    problems = fields.List(fields.String(), required=True)
    first_broken_seq = fields.Integer(required=True, allow_none=True, metadata={
        "description": "the first event of the history that does not hold (missing, changed, mislinked); null when "
                       "the chain is intact"})


class ApiError(Schema):
    """Every error the API answers has this shape (webui/errors.py)."""

    error = fields.String(required=True, metadata={"description": "a stable code: unauthorized, forbidden, "
                                                                  "not_found, conflict, validation, invalid_bpmn, ..."})
    message = fields.String(required=True, metadata={"description": "中文 / English"})
    details = fields.Raw(required=True, allow_none=True,
                         metadata={"description": "null, or for validation errors an object mapping each field to "
                                                  "its messages, or for invalid_bpmn a list of problems "
                                                  "{element_id, line, message, file}"})


def iso(moment: datetime | None) -> str | None:
    """Datetimes leave the API in China time (+08:00)."""
    return moment.astimezone(CHINA_TZ).isoformat() if moment is not None else None


def task_json(task) -> dict:
    return {"id": task.id, "case_id": task.case_id, "case_code": task.case.code, "name": task.spec_name,
            "title": task.title, "roles": list(task.roles or []), "assignee": task.assignee,
            "due_at": iso(task.due_at), "warning_level": task.warning_level,
            "warning": LEVEL_NAMES.get(task.warning_level), "org_unit": task.org_unit.code,
            "kind": task.kind, "due_basis": task.due_basis, "created_at": iso(task.created_at),
            "urge": {"at": iso(task.urged_at), "by": task.urged_by, "note": task.urge_note} if task.urged_at else None}


def _unit(org) -> dict:
    return {"code": org.code, "name": org.name}


def case_json(case, version: int, tasks, timers, mask=mask_data) -> dict:
    """`mask`: the reader's view of phone and ID numbers (engine.access.masker); masked unless given."""
    return {"id": case.id, "code": case.code, "status": case.status, "outcome": case.outcome,
            "outcome_class": case.outcome_class, "outcome_class_name": OUTCOME_CLASSES.get(case.outcome_class or ""),
            "process_id": case.process_id, "version": version, "data": mask(case.data),
            "org_unit": case.org_unit.code, "org_unit_name": case.org_unit.name,
            "responsible_unit": _unit(case.responsible_unit or case.org_unit),
            "first_unit": _unit(case.first_unit or case.org_unit), "category": case.category, "tier": case.tier, "channel": case.channel,
            "opened_at": iso(case.opened_at), "closed_at": iso(case.closed_at), "opened_by": case.opened_by,
            "linked_case_id": case.linked_case_id, "link_kind": case.link_kind, "lock_version": case.lock_version,
            "tasks": [task_json(t) for t in tasks],
            "timers": [{"due_at": iso(t.due_at), "kind": t.kind, "name": t.name} for t in timers]}


def attachment_json(row) -> dict:
    return {"id": row.id, "case_id": row.case_id, "task_id": row.task_id, "name": row.name, "size": row.size,
            "type": row.content_type, "sha256": row.sha256, "uploaded_by": row.uploaded_by,
            "uploaded_at": iso(row.uploaded_at), "download_url": f"/api/v1/attachments/{row.id}"}


def document_json(row) -> dict:
    return {"id": row.id, "case_id": row.case_id, "kind": row.kind, "title": row.title, "version": row.version,
            "sha256": row.sha256, "size": row.size, "html_sha256": row.html_sha256, "issued_by": row.issued_by,
            "issued_at": iso(row.issued_at), "pdf_url": f"/api/v1/documents/{row.id}.pdf",
            "html_url": f"/api/v1/documents/{row.id}.html"}


def event_json(event, mask=mask_data) -> dict:
    """`mask` as in case_json: a payload carries the case's data (the start data, each task's changes)."""
    return {"seq": event.seq, "at": iso(event.at), "actor": event.actor, "type": event.type,
            "task": event.task_name, "task_id": event.task_id, "payload": mask(event.payload),
            "prev_hash": event.prev_hash, "hash": event.hash}


# ---------------------------------------------------------------- the case ledger (台账)

class LedgerQuery(Schema):
    q = fields.String(load_default=None, validate=[validate.Length(max=100), _no_nul], metadata={
        "description": "a case code (spaces, full-width digits and a trailing x tolerated), part of one, the "
                       "party's name, a run of the phone's digits (its last four), or the title"})
    process_id = fields.String(load_default=None, validate=_no_nul)
    status = fields.String(load_default=None, validate=validate.OneOf(["open", "closed"]))
    outcome = fields.String(load_default=None, validate=validate.OneOf([*OUTCOME_CLASSES, *OUTCOME_CLASSES.values()]),
                            metadata={"description": "an outcome class of closed cases (cases.outcome_class): "
                                                     "resolved (化解) | unresolved (未化解) | withdrawn (撤回) | "
                                                     "transferred (移送) | not_accepted (不予受理); the id or the name"})
    category = fields.String(load_default=None, validate=_no_nul)
    channel = fields.String(load_default=None, validate=_no_nul)
    tier = fields.String(load_default=None, validate=_no_nul)
    org_unit = fields.String(load_default=None, validate=_no_nul, metadata={"description": "an org unit's code"})
    include_sub = fields.Boolean(load_default=False, metadata={"description": "with org_unit: the units below too"})
    opened_from = fields.Date(load_default=None, metadata={"description": "opened on or after this day (China time)"})
    opened_to = fields.Date(load_default=None, metadata={"description": "opened on or before this day"})
    closed_from = fields.Date(load_default=None)
    closed_to = fields.Date(load_default=None)
    overdue = fields.Boolean(load_default=False, metadata={"description": "an open task of the case is past due"})
    high_risk = fields.Boolean(load_default=False, metadata={"description": "群体性/高风险 (high_risk, people_involved)"})
    sort = fields.String(load_default="-opened", validate=validate.OneOf(
        ["-opened", "opened", "due", "-due", "warning", "code", "-closed"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class LedgerExportQuery(LedgerQuery):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


class LedgerRowSchema(Schema):
    id = fields.Integer(required=True)
    code = fields.String(required=True)
    title = fields.String(required=True)
    process_id = fields.String(required=True)
    category = fields.String(required=True, allow_none=True)
    channel = fields.String(required=True, allow_none=True)
    tier = fields.String(required=True, allow_none=True)
    org_unit = fields.Nested(UnitRef, required=True, metadata={"description": "the handling unit"})
    steps = fields.List(fields.String(), required=True, metadata={"description": "titles of the open tasks"})
    holders = fields.List(fields.String(), required=True, metadata={"description": "who claimed them"})
    opened_at = _time(required=True)
    due_at = _time(required=True, allow_none=True)  # the earliest due date of its open tasks
    days_left = fields.Integer(required=True, allow_none=True, metadata={"description": "negative: days late"})
    warning_level = fields.Integer(required=True, metadata={"description": "the highest of its open tasks"})
    warning = fields.String(required=True, allow_none=True)
    status = fields.String(required=True)
    outcome = fields.String(required=True, allow_none=True)
    outcome_class = fields.String(required=True, allow_none=True, metadata={"description": "see GET /cases/<id>"})
    outcome_class_name = fields.String(required=True, allow_none=True, metadata={"description": "its Chinese name"})
    closed_at = _time(required=True, allow_none=True)


class LedgerList(Schema):
    items = fields.List(fields.Nested(LedgerRowSchema), required=True)
    total = fields.Integer(required=True, metadata={"description": "matching cases, counted up to 1000"})
    total_capped = fields.Boolean(required=True, metadata={"description": "true: more than `total` cases match"})
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


def ledger_row_json(row, now) -> dict:
    case = row.case
    return {"id": case.id, "code": case.code, "title": row.title, "process_id": case.process_id,
            "category": case.category, "channel": case.channel, "tier": case.tier,
            "org_unit": {"code": case.org_unit.code, "name": case.org_unit.name}, "steps": row.steps,
            "holders": row.holders, "opened_at": iso(case.opened_at), "due_at": iso(row.due_at),
            "days_left": row.days_left(now), "warning_level": row.warning_level,
            "warning": LEVEL_NAMES.get(row.warning_level), "status": case.status, "outcome": case.outcome,
            "outcome_class": case.outcome_class, "outcome_class_name": OUTCOME_CLASSES.get(case.outcome_class or ""),
            "closed_at": iso(case.closed_at)}


class SamePartyQuery(Schema):
    phone = fields.String(required=True, validate=[validate.Length(min=1, max=40), _no_nul],
                          metadata={"description": "the party's phone as typed (+86, spaces and hyphens are fine)"})
    exclude = fields.Integer(load_default=None, validate=validate.Range(min=1, max=2**31 - 1),
                             metadata={"description": "a case id to leave out (the case whose page asks)"})


class SamePartyResult(Schema):
    phone_key = fields.String(required=True, allow_none=True,
                              metadata={"description": "the digits compared; null: too short to compare (under 7)"})
    items = fields.List(fields.Nested(LedgerRowSchema), required=True,
                        metadata={"description": "the cases the caller may read, newest first (at most 20)"})
    readable = fields.Integer(required=True, metadata={"description": "how many the caller may read"})
    others = fields.Integer(required=True, metadata={"description": "how many they may not read (not listed)"})
    others_open = fields.Integer(required=True, metadata={"description": "of those, how many are open"})


def same_party_json(found, now) -> dict:
    return {"phone_key": found.key, "items": [ledger_row_json(row, now) for row in found.rows],
            "readable": found.readable, "others": found.others, "others_open": found.others_open}


# ---------------------------------------------------------------- the dashboard's overdue board (督办看板)

class OverdueQuery(Schema):
    org_unit = fields.String(load_default=None, validate=_no_nul,
                             metadata={"description": "this unit and below (within the caller's); default: all theirs"})


class LevelCount(Schema):
    level = fields.Integer(required=True, metadata={"description": "1 提示, 2 催办, 3 督办, 4 挂牌督办"})
    name = fields.String(required=True)
    count = fields.Integer(required=True, metadata={"description": "open tasks at this step"})


class OverdueUnit(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    levels = fields.List(fields.Nested(LevelCount), required=True)
    total = fields.Integer(required=True)


class OverdueBoard(Schema):
    levels = fields.List(fields.Nested(LevelCount), required=True)
    units = fields.List(fields.Nested(OverdueUnit), required=True,
                        metadata={"description": "units holding late tasks, the most 挂牌督办 first, then by total"})


def overdue_board_json(board) -> dict:
    def levels(counts):
        return [{"level": level, "name": LEVEL_NAMES[level], "count": count} for level, count in counts.items()]
    return {"levels": levels(board.levels),
            "units": [{"code": u.code, "name": u.name, "levels": levels(u.counts), "total": u.total}
                      for u in board.units]}
# ---------------------------------------------------------------- statistics (engine/stats.py defines each figure)

class StatsQuery(Schema):
    from_ = fields.Date(load_default=None, data_key="from", metadata={
        "description": "the first day counted (China time); default: 1 January of this year"})
    to = fields.Date(load_default=None, metadata={"description": "the last day counted; default: today"})
    group_by = fields.String(load_default="org_unit", validate=validate.OneOf(
        ["org_unit", "category", "channel", "process", "dept", "month"]))
    org_unit = fields.String(load_default=None, validate=_no_nul, metadata={
        "description": "an org unit's code: its figures include every unit below it (default: the highest unit "
                       "the caller supervises; the top center for auditors)"})


class SupervisionCounts(Schema):
    prompt = fields.Integer(required=True, metadata={"description": "提示"})
    reminder = fields.Integer(required=True, metadata={"description": "催办"})
    notice = fields.Integer(required=True, metadata={"description": "督办"})
    listing = fields.Integer(required=True, metadata={"description": "挂牌督办"})


class Figures(Schema):
    """docs/statistics.md gives each figure's formula and denominator; rates are fractions (0.9512), null when
    their denominator is 0."""

    received = fields.Integer(required=True, metadata={"description": "受理数 (group_by=dept: tasks opened)"})
    closed = fields.Integer(required=True, metadata={"description": "办结数 (group_by=dept: tasks completed)"})
    closed_rate = fields.Float(required=True, allow_none=True, metadata={"description": "办结率 = closed ÷ received"})
    closed_on_time_rate = fields.Float(required=True, allow_none=True, metadata={"description": "按期办结率"})
    resolved = fields.Integer(required=True, allow_none=True, metadata={"description": "化解数 (null by dept)"})
    resolved_rate = fields.Float(required=True, allow_none=True, metadata={"description": "化解率 = resolved ÷ closed"})
    responded_on_time_rate = fields.Float(required=True, allow_none=True, metadata={"description": "响应率"})
    overdue_open = fields.Integer(required=True, allow_none=True, metadata={
        "description": "超期在办 at the period's end; null for a period that ended before today"})
    satisfaction_rate = fields.Float(required=True, allow_none=True, metadata={"description": "满意率"})
    avg_handling_days = fields.Float(required=True, allow_none=True, metadata={"description": "平均办理天数"})
    supervision = fields.Nested(SupervisionCounts, required=True, allow_none=True, metadata={
        "description": "null by dept"})


class StatsGroup(Figures):
    key = fields.String(required=True)
    label = fields.String(required=True)
    includes_units_below = fields.Boolean(required=True, metadata={
        "description": "group_by=org_unit: the unit's figures include every unit below it"})
    units = fields.Integer(required=True, metadata={"description": "how many units the figures add up"})


class StatsUnit(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    units = fields.Integer(required=True, metadata={"description": "the unit and every unit below it: all counted"})


class StatsResult(Schema):
    from_ = fields.Date(required=True, data_key="from")
    to = fields.Date(required=True)
    group_by = fields.String(required=True)
    org_unit = fields.Nested(StatsUnit, required=True)
    total = fields.Nested(Figures, required=True)
    groups = fields.List(fields.Nested(StatsGroup), required=True)


def stats_json(result, labels: dict) -> dict:
    """The statistics as StatsResult dumps them; `labels`: key -> name for categories, channels, processes."""
    return {"from_": result.start, "to": result.end, "group_by": result.group_by,
            "org_unit": {"code": result.unit.code, "name": result.unit.name, "units": result.units},
            "total": result.total,
            "groups": [{"key": g.key, "label": labels.get(g.key, g.label) or "未填", **g.figures,
                        "includes_units_below": g.includes_units_below, "units": g.units} for g in result.groups]}


# ---- the administration console (issue 20): the admin log and users

class AdminLogQuery(Schema):
    actor = fields.String(load_default=None, validate=[validate.Length(max=64), _no_nul], metadata={
        "description": "who acted (a login)"})
    action = fields.String(load_default=None, validate=[validate.Length(max=40), _no_nul], metadata={
        "description": "user_created | user_imported | user_updated | user_disabled | user_enabled | "
                       "memberships_changed | password_reset | password_changed | calendar_year_saved"})
    target = fields.String(load_default=None, validate=[validate.Length(max=200), _no_nul], metadata={
        "description": "on whom or what (a login)"})
    since = fields.Date(load_default=None, metadata={"description": "on or after this day (China time)"})
    until = fields.Date(load_default=None, metadata={"description": "on or before this day (China time)"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AdminEventSchema(Schema):
    seq = fields.Integer(required=True)
    at = _time(required=True)
    actor = fields.String(required=True)
    action = fields.String(required=True)
    target_type = fields.String(required=True)
    target = fields.String(required=True)
    old = fields.Dict(required=True, allow_none=True, metadata={"description": "the values before (null: none)"})
    new = fields.Dict(required=True, allow_none=True, metadata={"description": "the values after"})
    hash = fields.String(required=True)


class AdminLogList(Schema):
    items = fields.List(fields.Nested(AdminEventSchema), required=True, metadata={"description": "newest first"})
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class AdminLogVerify(Schema):
    ok = fields.Boolean(required=True)
    checked = fields.Integer(required=True, metadata={"description": "rows that chain correctly"})
    broken_at = fields.Integer(required=True, allow_none=True, metadata={
        "description": "the seq where the chain breaks (a row missing, altered or out of order)"})


class MembershipSchema(Schema):
    role = fields.String(required=True, validate=[validate.Length(min=1, max=64), _no_nul])
    org_unit = fields.String(required=True, validate=[validate.Length(min=1, max=64), _no_nul],
                             metadata={"description": "an org unit's code"})


class UserQuery(Schema):
    q = fields.String(load_default=None, validate=[validate.Length(max=100), _no_nul], metadata={
        "description": "part of the login or the name"})
    role = fields.String(load_default=None, validate=[validate.Length(max=64), _no_nul])
    org_unit = fields.String(load_default=None, validate=[validate.Length(max=64), _no_nul])
    active = fields.Boolean(load_default=None)
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AdminUserSchema(Schema):
    login = fields.String(required=True)
    display_name = fields.String(required=True, allow_none=True)
    phone = fields.String(required=True, allow_none=True)
    active = fields.Boolean(required=True)
    must_change_password = fields.Boolean(required=True)
    memberships = fields.List(fields.Nested(MembershipSchema), required=True)
    created_at = _time(required=True)
    last_login_at = _time(required=True, allow_none=True)


class AdminUserList(Schema):
    items = fields.List(fields.Nested(AdminUserSchema), required=True)
    total = fields.Integer(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class CreateUserRequest(Schema):
    login = fields.String(required=True, validate=[validate.Length(min=1, max=64), _no_nul])
    display_name = fields.String(required=True, validate=[validate.Length(min=1, max=200), _no_nul])
    password = fields.String(required=True, validate=[validate.Length(min=1, max=512), _no_nul])
    phone = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=40), _no_nul])
    memberships = fields.List(fields.Nested(MembershipSchema), required=True, validate=validate.Length(min=1, max=200))


class UpdateUserRequest(Schema):
    display_name = fields.String(validate=[validate.Length(min=1, max=200), _no_nul])
    phone = fields.String(allow_none=True, validate=[validate.Length(max=40), _no_nul])
    active = fields.Boolean()
    memberships = fields.List(fields.Nested(MembershipSchema), validate=validate.Length(max=200), metadata={
        "description": "the user's full new set of memberships (a role missing from it is revoked)"})


class PasswordResetResponse(Schema):
    login = fields.String(required=True)
    one_time_password = fields.String(required=True, metadata={
        "description": "shown once; the user must set a new password at the next login"})


def admin_user_json(user) -> dict:
    return {"login": user.username, "display_name": user.display_name, "phone": user.phone, "active": user.active,
            "must_change_password": user.must_change_password,
            "memberships": sorted(({"role": m.role.name, "org_unit": m.org_unit.code} for m in user.memberships),
                                  key=lambda g: (g["org_unit"], g["role"])),
            "created_at": iso(user.created_at), "last_login_at": iso(user.last_login_at)}


def admin_event_json(row) -> dict:
    return {"seq": row.seq, "at": iso(row.at), "actor": row.actor, "action": row.action,
            "target_type": row.target_type, "target": row.target, "old": row.old, "new": row.new, "hash": row.hash}


class ImportErrorSchema(Schema):
    row = fields.Integer(required=True, metadata={"description": "the row in the file (the header is row 1)"})
    column = fields.String(required=True, metadata={"description": "login | display_name | phone | password | memberships"})
    message = fields.String(required=True)


class ImportCreatedSchema(Schema):
    login = fields.String(required=True)
    one_time_password = fields.String(required=True, allow_none=True, metadata={
        "description": "made for a row without a password, shown once; null when the file gave one"})


class ImportResultSchema(Schema):
    applied = fields.Boolean(required=True, metadata={"description": "true: every row was saved"})
    errors = fields.List(fields.Nested(ImportErrorSchema), required=True)
    created = fields.List(fields.Nested(ImportCreatedSchema), required=True)


class CalendarDaySchema(Schema):
    date = fields.Date(required=True)
    source = fields.String(required=True, metadata={
        "description": "package (chinese_calendar), computed (statutory days, no notice), file "
                       "(config/calendar.toml), notice (entered in the console), closure (a center closure)"})


class CalendarYearSchema(Schema):
    year = fields.Integer(required=True)
    provisional = fields.Boolean(required=True, metadata={"description": "no State Council notice yet"})
    holidays = fields.List(fields.Nested(CalendarDaySchema), required=True)
    workdays = fields.List(fields.Nested(CalendarDaySchema), required=True, metadata={
        "description": "调休 make-up working days (weekend days that are worked)"})
    closures = fields.List(fields.Nested(CalendarDaySchema), required=True)
    saved_by = fields.String(required=True, allow_none=True)
    saved_at = fields.DateTime(required=True, allow_none=True)


class CalendarYearRequest(Schema):
    holidays = fields.List(fields.String(validate=[validate.Length(max=40), _no_nul]), required=True,
                           validate=validate.Length(max=366), metadata={"description": "YYYY-MM-DD, in the year"})
    workdays = fields.List(fields.String(validate=[validate.Length(max=40), _no_nul]), required=True,
                           validate=validate.Length(max=366), metadata={"description": "调休 working days"})
    closures = fields.List(fields.String(validate=[validate.Length(max=40), _no_nul]),
                           validate=validate.Length(max=366), metadata={"description": "center closures in the year; omitted: those entered before stay"})
    provisional = fields.Boolean(load_default=False)


class CalendarSaveQuery(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "count what would move, save nothing"})


class CalendarSaveResponse(Schema):
    year = fields.Integer(required=True)
    dry_run = fields.Boolean(required=True)
    moved = fields.Integer(required=True, metadata={"description": "deadlines (timers, task due dates) moved"})
    cases = fields.Integer(required=True, metadata={"description": "cases with a deadline moved or to review"})
    unsure = fields.Integer(required=True, metadata={"description": "deadlines that could not be recomputed safely"})


def calendar_year_json(view) -> dict:
    def days(items):
        return [{"date": d.day, "source": d.source} for d in items]
    return {"year": view.year, "provisional": view.provisional, "holidays": days(view.holidays),
            "workdays": days(view.workdays), "closures": days(view.closures),
            "saved_by": view.notice.saved_by if view.notice else None,
            "saved_at": view.notice.saved_at if view.notice else None}


# ---------------------------------------------------------------- the org tree, roster and roles (issue 20 §2)

class PresenceToday(Schema):
    presence = fields.String(required=True, allow_none=True, metadata={
        "description": "resident (常驻) | rota (轮驻) | on_call (随驻); null: not a resident department"})
    rota_days = fields.List(fields.Integer(), required=True, metadata={"description": "a rota's ISO weekdays (1 Monday)"})
    today = fields.String(required=True, metadata={"description": "present | absent | on_call | rest_day | none"})


class OrgUnitSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, metadata={"description": "city | county | township | village | department"})
    level = fields.Integer(required=True, metadata={"description": "0 city, 1 county, 2 township, 3 village"})
    area_code = fields.String(required=True)
    phone = fields.String(required=True, allow_none=True)
    parent = fields.String(required=True, allow_none=True, metadata={"description": "the code of the unit above"})
    depth = fields.Integer(required=True, metadata={"description": "0 for the top (the list is in tree order)"})
    members = fields.Integer(required=True, metadata={"description": "role assignments held at the unit"})
    open_cases = fields.Integer(required=True)
    presence = fields.Nested(PresenceToday, required=True)
    active = fields.Boolean(required=True, metadata={"description": "false: disabled (停用), nothing new is routed to it"})


class OrgUnitList(Schema):
    items = fields.List(fields.Nested(OrgUnitSchema), required=True)


_PRESENCE_FIELD = dict(allow_none=True, validate=validate.OneOf(["resident", "rota", "on_call"]),
                       metadata={"description": "resident (常驻) | rota (轮驻) | on_call (随驻) | null"})


class CreateOrgUnitRequest(Schema):
    code = fields.String(required=True, validate=[validate.Length(min=1, max=64), _no_nul])
    name = fields.String(required=True, validate=[validate.Length(min=1, max=200), _no_nul])
    kind = fields.String(required=True, validate=validate.OneOf(["county", "township", "village", "department"]))
    parent = fields.String(required=True, validate=[validate.Length(min=1, max=64), _no_nul])
    area_code = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=6), _no_nul])
    phone = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=40), _no_nul])
    presence = fields.String(load_default=None, **_PRESENCE_FIELD)
    rota_days = fields.List(fields.Integer(validate=validate.Range(min=1, max=7)), load_default=list,
                            validate=validate.Length(max=7))


class UpdateOrgUnitRequest(Schema):
    name = fields.String(validate=[validate.Length(min=1, max=200), _no_nul])
    code = fields.String(validate=[validate.Length(min=1, max=64), _no_nul], metadata={"description": "a new code"})
    area_code = fields.String(validate=[validate.Length(max=6), _no_nul])
    phone = fields.String(allow_none=True, validate=[validate.Length(max=40), _no_nul])
    presence = fields.String(**_PRESENCE_FIELD)
    rota_days = fields.List(fields.Integer(validate=validate.Range(min=1, max=7)), validate=validate.Length(max=7))
    parent = fields.String(validate=[validate.Length(min=1, max=64), _no_nul], metadata={
        "description": "move the unit and everything below it under this unit (by code); with dry_run=1 only "
                       "what the move changes is answered"})
    active = fields.Boolean(metadata={"description": "false: disable the unit (停用: nothing new is routed to it, a "
                                                     "route that resolves there is a 422 naming it; its open tasks "
                                                     "stay, see GET …/open-tasks); true: enable it again. Alone."})


class OrgUnitChangeQuery(Schema):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "a move: what it changes, nothing saved"})


class MovePreviewSchema(Schema):
    code = fields.String(required=True)
    old_parent = fields.String(required=True)
    new_parent = fields.String(required=True)
    units = fields.Integer(required=True, metadata={"description": "the unit and those below it"})
    open_cases = fields.Integer(required=True)
    open_tasks = fields.Integer(required=True, metadata={"description": "they stay with whom they were routed to"})
    members = fields.Integer(required=True)
    old_chain = fields.List(fields.String(), required=True, metadata={
        "description": "the centers above it now, nearest first (上报 goes to the first)"})
    new_chain = fields.List(fields.String(), required=True)
    level = fields.Integer(required=True)


class RosterQuery(Schema):
    week = fields.Date(load_default=None, metadata={"description": "any day of the week (default: this week)"})


class RosterDaySchema(Schema):
    date = fields.Date(required=True)
    working = fields.Boolean(required=True)


class RosterRowSchema(Schema):
    code = fields.String(required=True)
    name = fields.String(required=True)
    center = fields.String(required=True)
    presence = fields.String(required=True)
    rota_days = fields.List(fields.Integer(), required=True)
    days = fields.List(fields.String(), required=True, metadata={
        "description": "per day of the week: present | absent | on_call | rest_day"})


class RosterSchema(Schema):
    monday = fields.Date(required=True)
    days = fields.List(fields.Nested(RosterDaySchema), required=True)
    rows = fields.List(fields.Nested(RosterRowSchema), required=True)


class RoleSchema(Schema):
    name = fields.String(required=True, metadata={"description": "the key processes and memberships use"})
    builtin = fields.Boolean(required=True)
    name_zh = fields.String(required=True, allow_none=True, metadata={"description": "set by an administrator"})
    name_en = fields.String(required=True, allow_none=True)
    shown_zh = fields.String(required=True, metadata={"description": "the Chinese name pages show"})
    shown_en = fields.String(required=True)


class RoleList(Schema):
    items = fields.List(fields.Nested(RoleSchema), required=True)
    lane_roles = fields.List(fields.Dict(), required=True, metadata={
        "description": "[{lane, role}]: the lane map in force (PUT /admin/settings/lane_roles changes it)"})


class UpdateRoleRequest(Schema):
    name_zh = fields.String(allow_none=True, load_default=None, validate=[validate.Length(max=200), _no_nul])
    name_en = fields.String(allow_none=True, load_default=None, validate=[validate.Length(max=200), _no_nul])


def org_unit_json(row) -> dict:
    u = row.unit
    return {"code": u.code, "name": u.name, "kind": u.kind, "level": u.level, "area_code": u.area_code,
            "phone": u.phone, "parent": row.parent_code, "depth": row.depth, "members": row.members,
            "open_cases": row.open_cases, "active": bool(u.active),
            "presence": {"presence": u.presence, "rota_days": list(row.today.rota_days), "today": row.today.state}}


def move_preview_json(p) -> dict:
    return {"code": p.unit.code, "old_parent": p.old_parent.code, "new_parent": p.new_parent.code, "units": p.units,
            "open_cases": p.open_cases, "open_tasks": p.open_tasks, "members": p.members,
            "old_chain": p.old_chain, "new_chain": p.new_chain, "level": p.level}


def roster_json(r) -> dict:
    return {"monday": r.monday, "days": [{"date": d.day, "working": d.working} for d in r.days],
            "rows": [{"code": row.unit.code, "name": row.unit.name, "center": row.center,
                      "presence": row.unit.presence, "rota_days": list(row.days[0].rota_days),
                      "days": [p.state for p in row.days]} for row in r.rows]}


class OpenTaskSchema(Schema):
    id = fields.String(required=True)
    title = fields.String(required=True)
    case_code = fields.String(required=True)
    due_at = fields.DateTime(required=True, allow_none=True)
    assignee = fields.String(required=True, allow_none=True)


class OpenTaskList(Schema):
    items = fields.List(fields.Nested(OpenTaskSchema), required=True)


# ---------------------------------------------------------------- settings and the ladder policy (issue 20 §4, §5)

class LadderStepSchema(Schema):
    step = fields.String(required=True, metadata={"description": "prompt (提示) | reminder (催办) | notice (督办) | "
                                                                 "listing (挂牌督办), in this order"})
    direction = fields.String(required=True, metadata={"description": "before | after the task's due date"})
    amount = fields.Integer(required=True)
    unit = fields.String(required=True, metadata={"description": "days | workdays | hours"})
    two_thirds = fields.Boolean(required=True, metadata={
        "description": "a step before the due date: or when 2/3 of the period have passed, whichever is earlier"})


class LadderTierSchema(Schema):
    enabled = fields.Boolean(required=True)
    steps = fields.List(fields.Nested(LadderStepSchema), required=True)


class LadderRolesSchema(Schema):
    notice = fields.String(required=True, metadata={"description": "answers (书面答复) at the unit holding the task"})
    listing = fields.String(required=True, metadata={"description": "reviews (销号/退回) at the supervising center"})


class LadderPolicySchema(Schema):
    enabled = fields.Boolean(required=True)
    tiers = fields.Dict(keys=fields.String(), values=fields.Nested(LadderTierSchema), required=True, metadata={
        "description": "simple | ordinary | complex | major (a case without a tier follows ordinary)"})
    roles = fields.Dict(keys=fields.String(), values=fields.Nested(LadderRolesSchema), required=True, metadata={
        "description": "per kind of unit holding the late task: city | county | township | village | department"})


class LadderSchema(Schema):
    policy = fields.Nested(LadderPolicySchema, required=True)
    version = fields.Integer(required=True, allow_none=True, metadata={
        "description": "null: config/org.toml's policy, never saved in the console"})
    saved_by = fields.String(required=True, allow_none=True)
    saved_at = fields.DateTime(required=True, allow_none=True)


class LadderSaveRequest(Schema):
    policy = fields.Dict(required=True, metadata={"description": "the whole policy, as GET answers it"})
    apply_to_open_tasks = fields.Boolean(load_default=False, metadata={
        "description": "also the open tasks: their next step is recomputed, an event per case whose step moves"})
    note = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=1000), _no_nul])


class SettingSaveResponse(Schema):
    key = fields.String(required=True)
    changed = fields.Boolean(required=True, metadata={"description": "false: the same value, nothing written"})
    version = fields.Integer(required=True, allow_none=True)
    cases = fields.Integer(required=True, metadata={"description": "cases whose tasks' next ladder step moved"})
    moved = fields.Integer(required=True, metadata={"description": "tasks whose next ladder step moved"})


class SettingSchema(Schema):
    key = fields.String(required=True, metadata={"description": "ladder | lane_roles | group_case | ranking"})
    value = fields.Dict(required=True)
    version = fields.Integer(required=True, allow_none=True, metadata={
        "description": "null: config/org.toml's value, never saved in the console"})
    saved_by = fields.String(required=True, allow_none=True)
    saved_at = fields.DateTime(required=True, allow_none=True)


class SettingList(Schema):
    items = fields.List(fields.Nested(SettingSchema), required=True)


class SettingSaveRequest(Schema):
    value = fields.Dict(required=True, metadata={"description": "lane_roles: {lane: role}; group_case: "
                                                                "{people_involved_at_least, director_role, "
                                                                "consultation_roles}; ranking: {weights: {rate: "
                                                                "weight}}; ladder: the policy"})
    note = fields.String(load_default=None, allow_none=True, validate=[validate.Length(max=1000), _no_nul])


class SettingVersionSchema(Schema):
    version = fields.Integer(required=True)
    old = fields.Dict(required=True, allow_none=True)
    value = fields.Dict(required=True)
    saved_by = fields.String(required=True)
    saved_at = fields.DateTime(required=True)
    applies_to_open = fields.Boolean(required=True)
    note = fields.String(required=True, allow_none=True)


class SettingHistory(Schema):
    items = fields.List(fields.Nested(SettingVersionSchema), required=True)


def setting_json(view) -> dict:
    return {"key": view.key, "value": view.value, "version": view.version, "saved_by": view.saved_by,
            "saved_at": view.saved_at}


def setting_version_json(row) -> dict:
    return {"version": row.version, "old": row.old, "value": row.value, "saved_by": row.saved_by,
            "saved_at": row.saved_at, "applies_to_open": bool(row.applies_to_open), "note": row.note}
# ---------------------------------------------------------------- the auditor's workspace (engine/services/audit.py)

class AuditEventQuery(Schema):
    kind = fields.String(load_default=None, validate=[validate.Length(max=40), _no_nul], metadata={
        "description": "an event type: case_started | task_completed | attachment_added | document_issued | …"})
    actor = fields.String(load_default=None, validate=[validate.Length(max=200), _no_nul], metadata={
        "description": "who acted: a login or a display name (whole)"})
    case = fields.String(load_default=None, validate=[validate.Length(max=60), _no_nul], metadata={
        "description": "a case code, whole or in part (spaces, hyphens and full-width digits tolerated)"})
    since = fields.Date(load_default=None, metadata={"description": "on or after this day (China time)"})
    until = fields.Date(load_default=None, metadata={"description": "on or before this day (China time)"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AuditEventSchema(Schema):
    case_id = fields.Integer(required=True)
    case_code = fields.String(required=True)
    seq = fields.Integer(required=True, metadata={"description": "the record's number in its case's history"})
    at = _time(required=True)
    type = fields.String(required=True)
    actor = fields.String(required=True, allow_none=True)
    task_id = fields.String(required=True, allow_none=True)
    task_name = fields.String(required=True, allow_none=True)
    hash = fields.String(required=True)


class AuditEventList(Schema):
    items = fields.List(fields.Nested(AuditEventSchema), required=True, metadata={"description": "newest first"})
    total = fields.Integer(required=True, metadata={"description": "exact unless more is true (then a floor)"})
    more = fields.Boolean(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


class AccessLogQuery(Schema):
    user = fields.String(load_default=None, validate=[validate.Length(max=200), _no_nul], metadata={
        "description": "who read: a login or a display name (whole)"})
    case = fields.String(load_default=None, validate=[validate.Length(max=60), _no_nul], metadata={
        "description": "a case code, whole or in part"})
    what = fields.String(load_default=None, validate=[validate.Length(max=20), _no_nul], metadata={
        "description": "case | events | verify | audit | diagram | receipt | task | document | documents | "
                       "attachments | dossier"})
    since = fields.Date(load_default=None, metadata={"description": "on or after this day (China time)"})
    until = fields.Date(load_default=None, metadata={"description": "on or before this day (China time)"})
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class AccessEntrySchema(Schema):
    at = _time(required=True)
    username = fields.String(required=True)
    case_id = fields.Integer(required=True)
    case_code = fields.String(required=True, allow_none=True, metadata={"description": "null: the case row is gone"})
    what = fields.String(required=True)
    basis = fields.String(required=True, metadata={"description": "the grant that allowed the read"})


class AccessLogList(Schema):
    items = fields.List(fields.Nested(AccessEntrySchema), required=True, metadata={"description": "newest first"})
    total = fields.Integer(required=True)
    more = fields.Boolean(required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)


def audit_event_json(row) -> dict:
    e = row.event
    return {"case_id": e.case_id, "case_code": row.case_code, "seq": e.seq, "at": iso(e.at), "type": e.type,
            "actor": e.actor, "task_id": e.task_id, "task_name": e.task_name, "hash": e.hash}


def access_entry_json(row) -> dict:
    a = row.entry
    return {"at": iso(a.at), "username": a.username, "case_id": a.case_id, "case_code": row.case_code,
            "what": a.what, "basis": a.basis}
