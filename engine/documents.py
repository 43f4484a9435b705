"""The documents of the case file (文书): their kinds, what each needs from the case, and their rendering.

One Jinja2 template per kind in the documents folder (EngineSettings.documents_dir, default config/documents/),
which a center's administrator may edit as files (docs/operations.md "Documents"). A template gets the case, its
data, `show(key)` (a value as people read it: enum names, 是/否, dates in Chinese), `parties` (the rows of the
repeatable group `parties`), `label(key)`, the QR code of the case code (`qr`) and the issuing moment.
Rendering runs in Jinja2's sandbox with autoescaping: a template cannot reach Python objects beyond what it is
given, and case data can never become markup.

Issuing (engine/services/documents.py) checks `missing()` first: a kind whose required fields the case lacks is
refused, naming them by their form labels.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, TemplateError, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from engine import clock, pdf
from engine.forms import fields_by_id as labels_of

log = logging.getLogger(__name__)

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "config" / "documents"
PARTY_COLUMNS = ("name", "sex", "age", "id_number", "address", "phone")  # what 人民调解法 第29条 names of each party
PARTIES_MIN = 2


@dataclass(frozen=True)
class Kind:
    """A kind of document: its title, the processes whose cases it is for, the case data it needs."""

    title: str
    processes: tuple[str, ...] | None  # None: any process (the receipt of every registered case)
    required: tuple[str, ...] = ()
    parties: bool = False  # needs at least two parties with every PARTY_COLUMNS value


KINDS: dict[str, Kind] = {
    "receipt": Kind("受理回执", None, ("party_name",)),
    # 人民调解法 第29条, 司法部令第75号 第35条: parties, facts, disputed issues, responsibility, the agreement, manner,
    # place and deadline of performance; signed by the parties and the mediator, sealed by the committee.
    "mediation_agreement": Kind("人民调解协议书", ("dispute",), (
        "agreement_no", "mediation_org", "dispute_facts", "disputed_issues", "responsibility", "agreement_content",
        "performance_mode", "performance_place", "performance_due_date", "mediator_name", "agreement_date"),
        parties=True),
    "termination_notice": Kind("终止调解告知书", ("dispute",), ("party_name", "termination_reason", "guided_channel")),
    "jc_application": Kind("司法确认申请书", ("dispute",), (
        "agreement_no", "agreement_date", "mediation_org", "agreement_content", "jc_court_name"), parties=True),
    # 信访工作条例 第23条 (受理告知), 第32条 (处理意见书), 第35–36条 (复查、复核意见书), 第40条 (督办)
    "acceptance_notice": Kind("信访事项受理告知书", ("petition_revisit",), ("party_name", "petition_claim", "accept_date")),
    "rejection_notice": Kind("信访事项不予受理告知书", ("petition_revisit",),
                             ("party_name", "petition_claim", "accept_date", "reject_reason")),
    "handling_opinion": Kind("信访事项处理意见书", ("petition_revisit",), (
        "party_name", "petition_claim", "reply_no", "reply_facts", "handle_opinion", "reply_reasons", "reply_date")),
    "recheck_opinion": Kind("信访事项复查意见书", ("petition_revisit",), (
        "party_name", "review_reason", "review_opinion", "review_reasons", "review_opinion_date")),
    "review_opinion": Kind("信访事项复核意见书", ("petition_revisit",), (
        "party_name", "second_review_reason", "second_review_opinion", "second_review_reasons",
        "second_review_date")),
    "supervision_notice": Kind("督办单", ("petition_revisit",), (
        "supervision_no", "supervision_date", "competent_body_name", "supervision_matter",
        "supervision_requirement")),
}

# Labels of values no form names (the case row's own facts), for a refusal and for templates.
_OWN_LABELS = {"parties": "当事人"}


def is_for(kind: Kind, process_id: str) -> bool:
    """Whether a case of the process issues this kind."""
    return kind.processes is None or process_id in kind.processes


def _label(fields: dict[str, dict], key: str) -> str:
    spec = fields.get(key) or {}
    return spec.get("label") or _OWN_LABELS.get(key) or key


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == []


def missing(kind: Kind, data: dict, meta: dict) -> dict[str, str]:
    """The fields the kind needs that the case lacks: key -> what is missing, in the form's words (Chinese
    labels; a party's column as "当事人第2行：身份证号")."""
    fields = labels_of(meta)
    out = {key: _label(fields, key) for key in kind.required if _blank(data.get(key))}
    if kind.parties:
        rows = [r for r in (data.get("parties") or []) if isinstance(r, dict)]
        group = fields.get("parties") or {}
        columns = {c["id"]: c.get("label") or c["id"] for c in group.get("columns", [])}
        if len(rows) < PARTIES_MIN:
            out["parties"] = f"{_label(fields, 'parties')}（至少{PARTIES_MIN}方，现有{len(rows)}方）"
        for n, row in enumerate(rows, start=1):
            lacking = [columns.get(c, c) for c in PARTY_COLUMNS if _blank(row.get(c))]
            if lacking:
                out[f"parties.{n}"] = f"{_label(fields, 'parties')}第{n}行：{'、'.join(lacking)}"
    return out


def _environment(folder: str | None) -> SandboxedEnvironment:
    env = SandboxedEnvironment(loader=FileSystemLoader(str(folder or DEFAULT_DIR)),
                               autoescape=select_autoescape(default=True, default_for_string=True),
                               undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["cn_date"] = cn_date
    return env


def cn_date(value) -> str:
    """2026-03-10 (or a moment) as 2026年3月10日, China time; blank as a line to fill in by hand."""
    if value in (None, ""):
        return "____年__月__日"
    if isinstance(value, datetime):
        day = value.astimezone(clock.CHINA_TZ).date()
    elif isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value)[:10])
        except ValueError:
            return str(value)
    return f"{day.year}年{day.month}月{day.day}日"


def _display(spec: dict | None, value) -> str:
    if _blank(value):
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(_display(spec, v) for v in value)
    if spec and spec.get("enum"):
        for enum_id, name, *_rest in spec["enum"]:
            if enum_id == value:
                return name
    if spec and (spec.get("type") or "") == "date":
        return cn_date(value)
    return str(value)


def render_html(kind_id: str, case, data: dict, meta: dict, *, folder: str | None, issued_at: datetime,
                issued_by: str, version: int, extra: dict | None = None) -> str:
    """The print-ready HTML of one document. Raises TemplateError (a broken or missing template file)."""
    fields = labels_of(meta)
    group = fields.get("parties") or {}
    columns = {c["id"]: c for c in group.get("columns", [])}
    parties = [{key: _display(columns.get(key), row.get(key)) for key in set(row) | set(PARTY_COLUMNS) | {"standing"}}
               for row in (data.get("parties") or []) if isinstance(row, dict)]
    kind = KINDS[kind_id]
    context = {
        "kind": kind_id, "title": kind.title, "case": case, "data": data, "parties": parties,
        "show": lambda key: _display(fields.get(key), data.get(key)),
        "label": lambda key: _label(fields, key),
        "qr": Markup(pdf.qr_svg(case.code)), "issued_at": issued_at, "issued_by": issued_by, "version": version,
        "org_name": case.org_unit.name if getattr(case, "org_unit", None) else "",
        **(extra or {}),
    }
    return _environment(folder).get_template(f"{kind_id}.html").render(context)


def template_problem(kind_id: str, folder: str | None) -> str | None:
    """None when the kind's template loads; else what is wrong with the file (for a refusal naming it)."""
    try:
        _environment(folder).get_template(f"{kind_id}.html")
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        return f"{kind_id}.html{f' line {line}' if line else ''}: {exc}"
    return None
