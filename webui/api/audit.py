"""API of the auditor's workspace: the records of every case searched (and exported as CSV), and the read log
(查阅留痕). Registered on the API blueprint (webui/api/views.py imports this module); one engine call each."""
from __future__ import annotations

from marshmallow import RAISE

from engine.services import audit
from webui.admin.access_views import access_csv_response
from webui.admin.files import day_bounds
from webui.api import schemas as s
from webui.api.views import _errors, blp
from webui.audit.views import events_csv_response
from webui.auth import current_actor
from webui.extensions import db


def _event_filter(query: dict) -> audit.EventFilter:
    since, until = day_bounds(query["since"], query["until"])
    return audit.EventFilter(kind=query["kind"], actor=query["actor"], case=query["case"], since=since, until=until)


def _access_filter(query: dict) -> audit.AccessFilter:
    since, until = day_bounds(query["since"], query["until"])
    return audit.AccessFilter(user=query["user"], case=query["case"], what=query["what"], since=since, until=until)


def _page_json(page, item) -> dict:
    return {"items": [item(r) for r in page.items], "total": page.total, "more": page.more, "page": page.page,
            "per_page": page.per_page}


@blp.route("/audit/events", methods=["GET"])
@blp.arguments(s.AuditEventQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.response(200, s.AuditEventList)
def audit_events(query: dict):
    """The history records of every case the caller may read, newest first, filtered by kind, who, case code and
    period, paged. Auditors and administrators."""
    page = audit.search_events(db.session, current_actor(), _event_filter(query), query["page"], query["per_page"])
    return _page_json(page, s.audit_event_json)


@blp.route("/audit/events.csv", methods=["GET"])
@blp.arguments(s.AuditEventQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.doc(responses={"200": {"description": "the matching records as CSV (UTF-8 with a BOM, Chinese headers), "
                                           "oldest first, streamed", "content": {"text/csv": {}}}})
def audit_events_csv(query: dict):
    """The event search as CSV (page and per_page ignored). Auditors and administrators."""
    return events_csv_response(audit.export_events(db.session, current_actor(), _event_filter(query)))


@blp.route("/audit/access-log", methods=["GET"])
@blp.arguments(s.AccessLogQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.response(200, s.AccessLogList)
def audit_access_log(query: dict):
    """The read log (查阅留痕), newest first: who read or exported which case when, filtered by who, case code,
    what and period, paged. Administrators and auditors."""
    page = audit.list_reads(db.session, current_actor(), _access_filter(query), query["page"], query["per_page"])
    return _page_json(page, s.access_entry_json)


@blp.route("/audit/access-log.csv", methods=["GET"])
@blp.arguments(s.AccessLogQuery, location="query", unknown=RAISE)
@_errors(401, 403, 422)
@blp.doc(responses={"200": {"description": "the matching reads as CSV, oldest first, streamed",
                            "content": {"text/csv": {}}}})
def audit_access_log_csv(query: dict):
    """The read log as CSV (page and per_page ignored). Administrators and auditors."""
    return access_csv_response(audit.export_reads(db.session, current_actor(), _access_filter(query)))
