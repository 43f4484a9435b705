"""Marshmallow schemas of the API: request shapes (validated in views) and response shapes (OpenAPI)."""
from __future__ import annotations

from datetime import datetime

from marshmallow import Schema, fields, validate

from engine.access import mask_data
from engine.clock import CHINA_TZ
from engine.services.timers import LEVEL_NAMES


class TokenRequest(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=512))


class TokenResponse(Schema):
    token = fields.String()
    id = fields.Integer()
    expires_at = fields.String()


class ProcessSchema(Schema):
    process_id = fields.String()
    version = fields.Integer()
    sha256 = fields.String()
    name = fields.String(allow_none=True)
    deployed_at = fields.String()


class ProcessList(Schema):
    items = fields.List(fields.Nested(ProcessSchema))


class StartCaseRequest(Schema):
    process_id = fields.String(required=True, validate=validate.Length(min=1, max=200))
    data = fields.Dict(keys=fields.String(), load_default=dict)
    org_unit = fields.String(load_default=None, allow_none=True)


class CompleteRequest(Schema):
    data = fields.Dict(keys=fields.String(), load_default=dict)
    lock_version = fields.Integer(load_default=None, allow_none=True)


class TaskSchema(Schema):
    id = fields.String()
    case_id = fields.Integer()
    case_code = fields.String()
    name = fields.String()
    title = fields.String()
    roles = fields.List(fields.String())
    assignee = fields.String(allow_none=True)
    due_at = fields.String(allow_none=True)
    warning_level = fields.Integer()
    warning = fields.String(allow_none=True)
    org_unit = fields.String()
    kind = fields.String()
    due_basis = fields.String(allow_none=True)


class TaskList(Schema):
    items = fields.List(fields.Nested(TaskSchema))
    total = fields.Integer(metadata={"description": "matching tasks, counted up to 1000"})
    total_capped = fields.Boolean(metadata={"description": "true: more than `total` tasks match"})
    page = fields.Integer()
    per_page = fields.Integer()


class TaskListQuery(Schema):
    overdue = fields.Boolean(load_default=False)
    assigned = fields.String(load_default=None, validate=validate.OneOf(["me", "none"]))
    q = fields.String(load_default=None)
    process_id = fields.String(load_default=None)
    category = fields.String(load_default=None)
    scope = fields.String(load_default="mine", validate=validate.OneOf(["mine", "supervised", "all"]))
    sort = fields.String(load_default="due", validate=validate.OneOf(["due", "-due", "created", "-created", "warning"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class TimerSchema(Schema):
    due_at = fields.String()
    kind = fields.String()
    name = fields.String()


class CaseSchema(Schema):
    id = fields.Integer()
    code = fields.String()
    status = fields.String()
    outcome = fields.String(allow_none=True)
    process_id = fields.String()
    version = fields.Integer()
    data = fields.Dict()
    tasks = fields.List(fields.Nested(TaskSchema))
    timers = fields.List(fields.Nested(TimerSchema))
    lock_version = fields.Integer()


class EventSchema(Schema):
    seq = fields.Integer()
    at = fields.String()
    actor = fields.String(allow_none=True)
    type = fields.String()
    task = fields.String(allow_none=True)
    payload = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String()


class EventList(Schema):
    items = fields.List(fields.Nested(EventSchema))


class VerifySchema(Schema):
    chain_ok = fields.Boolean()
    replay_ok = fields.Boolean()
    events = fields.Integer()
    problems = fields.List(fields.String())


class ApiError(Schema):
    error = fields.String()
    message = fields.String()
    details = fields.Raw(allow_none=True)


def iso(moment: datetime | None) -> str | None:
    """Datetimes leave the API in China time (+08:00)."""
    return moment.astimezone(CHINA_TZ).isoformat() if moment is not None else None


def task_json(task) -> dict:
    return {"id": task.id, "case_id": task.case_id, "case_code": task.case.code, "name": task.spec_name,
            "title": task.title, "roles": list(task.roles or []), "assignee": task.assignee,
            "due_at": iso(task.due_at), "warning_level": task.warning_level,
            "warning": LEVEL_NAMES.get(task.warning_level), "org_unit": task.org_unit.code,
            "kind": task.kind, "due_basis": task.due_basis, "created_at": iso(task.created_at)}


def case_json(case, version: int, tasks, timers, mask=mask_data) -> dict:
    """`mask`: the reader's view of phone and ID numbers (engine.access.masker); masked unless given."""
    return {"id": case.id, "code": case.code, "status": case.status, "outcome": case.outcome,
            "process_id": case.process_id, "version": version, "data": mask(case.data),
            "org_unit": case.org_unit.code, "category": case.category, "tier": case.tier, "channel": case.channel,
            "opened_at": iso(case.opened_at), "closed_at": iso(case.closed_at), "opened_by": case.opened_by,
            "linked_case_id": case.linked_case_id, "link_kind": case.link_kind, "lock_version": case.lock_version,
            "tasks": [task_json(t) for t in tasks],
            "timers": [{"due_at": iso(t.due_at), "kind": t.kind, "name": t.name} for t in timers]}


def event_json(event, mask=mask_data) -> dict:
    """`mask` as in case_json: a payload carries the case's data (the start data, each task's changes)."""
    return {"seq": event.seq, "at": iso(event.at), "actor": event.actor, "type": event.type,
            "task": event.task_name, "task_id": event.task_id, "payload": mask(event.payload),
            "prev_hash": event.prev_hash, "hash": event.hash}
