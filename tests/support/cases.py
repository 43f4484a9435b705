"""The intake every engine/API test registers a small_mediation case with, and the helper that does it."""
from __future__ import annotations

# small_mediation's intake task: the fields its form requires (tests/fixtures/engine/small_mediation.bpmn)
INTAKE = {"channel": "walk_in", "party_name": "张三", "handling_dept": "mediator"}
PHONE = "13800000000"


def intake(**changes) -> dict:
    """The intake data with some fields changed or added: intake(party_phone=PHONE, amount=10)."""
    return {**INTAKE, **changes}


def registered(session, clerk, data: dict | None = None, process_id: str = "small_mediation"):
    """Start a case as `clerk` and complete its intake task (INTAKE unless `data`); the case after the intake."""
    from engine.services import cases, tasks
    case = cases.start_case(session, process_id, {}, clerk)
    first = cases.open_tasks(session, case.id)[0]
    return tasks.complete_task(session, first.id, INTAKE if data is None else data, clerk)
