"""我的待办 and the task page: thin views over engine.services.tasks."""
from __future__ import annotations

import logging
import math

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext

from engine import access
from engine.errors import Forbidden, InvalidData
from engine.messages import msg
from engine.services import attachments, processes, tasks
from engine.services.users import SUPERVISORY_ROLES
from webui.auth import current_actor, login_required
from webui.cases.views import file_size
from webui.extensions import current_runtime, db
from webui.i18n import local_dt, localize, safe_next
from webui.shell import acting_actor, person, role_titles
from webui.task_forms import editable, field_errors, fields_by_id, shown_values, submitted_data, suggestions

log = logging.getLogger(__name__)

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

PER_PAGE = 20
TABS = ("todo", "claimed", "overdue", "done", "supervised")
SORTS = ("due", "-due", "warning", "created", "-created")


def _list_args() -> dict:
    args = request.args
    sort = args.get("sort", "due")
    return {"q": args.get("q", "").strip() or None, "process_id": args.get("process") or None,
            "category": args.get("category", "").strip() or None,
            "assigned": args.get("assigned") if args.get("assigned") in ("me", "none") else None,
            "overdue": args.get("overdue") == "1", "sort": sort if sort in SORTS else "due"}


def _page() -> int:
    try:
        return max(int(request.args.get("page", "1")), 1)
    except ValueError:
        return 1


@bp.route("/")
@login_required
def task_list():
    actor = acting_actor(current_actor())
    tab = request.args.get("tab", "todo")
    supervisory = any(g.role in SUPERVISORY_ROLES for g in actor.grants)
    if tab not in TABS or (tab == "supervised" and not supervisory):
        tab = "todo"
    counts = {
        "todo": _count(tasks.list_tasks(db.session, actor, per_page=1)),
        "claimed": _count(tasks.list_tasks(db.session, actor, assigned="me", per_page=1)),
        "overdue": _count(tasks.list_tasks(db.session, actor, overdue=True, per_page=1)),
        "done": _count(tasks.completed_by(db.session, actor, per_page=1)),
    }
    if supervisory:
        counts["supervised"] = _count(tasks.list_tasks(db.session, actor, scope="supervised", per_page=1))
    filters, page = _list_args(), _page()
    categories = _categories()
    category_id, category_choices = _category_for(filters["category"], categories)
    if tab == "done":
        result = tasks.completed_by(db.session, actor, page=page, per_page=PER_PAGE)
    else:
        query = dict(filters, category=category_id)
        if tab == "claimed":
            query["assigned"] = "me"
        if tab == "overdue":
            query["overdue"] = True
        result = tasks.list_tasks(db.session, actor, scope="supervised" if tab == "supervised" else "mine",
                                  page=page, per_page=PER_PAGE, **query)
    return render_template("tasks/list.html", tab=tab, counts=counts, filters=filters, result=result, page=page,
                           pages=max(math.ceil(result.total / PER_PAGE), 1), more=result.more,
                           total_label=_count(result), processes=processes.list_processes(db.session),
                           categories=categories, category_choices=category_choices,
                           role_titles=role_titles(), now=current_runtime().clock.now())


def _categories() -> dict[str, str]:
    """Every dispute category the deployed processes' forms offer: id -> the label staff read (邻里, 婚姻家庭)."""
    out: dict[str, str] = {}
    for row in processes.list_processes(db.session):
        for value, name in (fields_by_id(row.meta).get("category") or {}).get("enum") or []:
            out.setdefault(value, name)
    return out


def _category_for(typed: str | None, categories: dict[str, str]) -> tuple[str | None, list[str]]:
    """The category filter as typed: a category's id or its whole label, else the one label containing the text
    (婚姻 → 婚姻家庭). Several labels containing it: no category matches (the page offers those labels)."""
    if not typed:
        return None, []
    if typed in categories:
        return typed, []
    exact = [value for value, name in categories.items() if name == typed]
    if exact:
        return exact[0], []
    matching = [value for value, name in categories.items() if typed.lower() in name.lower()]
    if len(matching) == 1:
        return matching[0], []
    return typed, [categories[value] for value in matching]


def _count(page) -> str:
    """A list's total as shown: lists count up to tasks.COUNT_CAP, then say "1000+"."""
    return f"{page.total}+" if page.more else str(page.total)


def _oversee(task, actor) -> dict | None:
    """What the task page offers a supervisor or director over the task's unit: reassign, release, 催办."""
    if not tasks.may_oversee(db.session, actor, task):
        return None
    return {"people": tasks.eligible_assignees(db.session, task.id, actor)}


def _render_task(task, status: int = 200, formdata=None, details=None, oversee_error: str | None = None):
    actor = current_actor()
    case = task.case
    form = tasks.task_form(db.session, task)
    errors, general = field_errors(details)
    version = processes.load_version(db.session, case.process_version_id)
    mask = access.masker(db.session, actor, case)
    draft = tasks.draft_of(db.session, task, actor) if formdata is None else None
    return render_template("tasks/task.html", task=task, case=case, form=form, mask=mask, draft=draft,
                           values=shown_values(form, mask(case.data), draft.data if draft else formdata),
                           suggested=suggestions(form, mask(case.data)), errors=errors, general_errors=general,
                           can_act=tasks.can_act(db.session, actor, task), role_titles=role_titles(),
                           oversee=_oversee(task, actor), oversee_error=oversee_error,
                           fields=fields_by_id(version.meta), now=current_runtime().clock.now(),
                           **_attachment_context(task, actor)), status


def _attachment_context(task, actor) -> dict:
    """The task page's 附件 card: the files added on this task, and the upload form for who may act on it."""
    settings = current_runtime().settings
    return {"task_attachments": attachments.list_attachments(db.session, task.case_id, actor, task.id),
            "may_upload": task.kind == "bpmn" and attachments.may_upload(db.session, actor, task.case, task),
            "attachment_types": attachments.TYPE_NAMES,
            "attachment_kinds": "、".join(v for v in attachments.TYPE_NAMES.values() if v != "TXT"),
            "attachment_max_mb": settings.attachment_max_bytes // (1024 * 1024)}


def _attachment_json(row) -> dict:
    return {"id": row.id, "name": row.name, "sha256": row.sha256, "size": row.size, "size_text": file_size(row.size),
            "type": attachments.TYPE_NAMES.get(row.content_type, row.content_type),
            "url": url_for("cases.download_attachment", attachment_id=row.id), "by": person(row.uploaded_by),
            "at": local_dt(row.uploaded_at)}


@bp.route("/<task_id>/attachments", methods=["POST"])
@login_required
def add_attachment(task_id: str):
    """The task page's 附件 upload: one file on this task through the attachments command. The page's script
    asks for JSON (the form the person is filling in stays as it is); without it, a redirect to the task page.
    A refusal (too large, a kind not allowed, too many) says why and changes nothing."""
    actor = current_actor()
    task = tasks.get_task(db.session, task_id, actor)
    wants_json = request.accept_mimetypes.best == "application/json"
    upload = request.files.get("file")
    try:
        if upload is None or not upload.filename:
            raise InvalidData(msg("attachment.file_required"), {"file": [msg("attachment.file_required")]})
        try:
            data = upload.read()
        finally:
            upload.close()
        row = attachments.add_attachment(db.session, task.case_id, upload.filename, data, actor, task.id)
    except (InvalidData, Forbidden) as exc:
        db.session.rollback()
        message = localize(exc.message)
        if wants_json:
            return jsonify({"ok": False, "message": message}), 403 if isinstance(exc, Forbidden) else 422
        flash(message, "error")
        return redirect(url_for("tasks.task_page", task_id=task_id) + "#task-attachments")
    done = gettext("File uploaded: %(name)s", name=row.name)
    if wants_json:
        return jsonify({"ok": True, "message": done, "item": _attachment_json(row)}), 201
    flash(done, "ok")
    return redirect(url_for("tasks.task_page", task_id=task_id) + "#task-attachments")


@bp.route("/<task_id>")
@login_required
def task_page(task_id: str):
    return _render_task(tasks.get_task(db.session, task_id, current_actor()))


@bp.route("/<task_id>/claim", methods=["POST"])
@login_required
def claim(task_id: str):
    tasks.claim_task(db.session, task_id, current_actor())
    flash(gettext("You claimed the task."), "ok")
    return redirect(safe_next(request.form.get("next"), url_for("tasks.task_page", task_id=task_id)))


@bp.route("/<task_id>/unclaim", methods=["POST"])
@login_required
def unclaim(task_id: str):
    tasks.unclaim_task(db.session, task_id, current_actor())
    flash(gettext("You released the task; other holders of its role can take it now."), "ok")
    return redirect(safe_next(request.form.get("next"), url_for("tasks.task_page", task_id=task_id)))


@bp.route("/<task_id>/reassign", methods=["POST"])
@login_required
def reassign(task_id: str):
    task = tasks.reassign_task(db.session, task_id, request.form.get("username", ""), current_actor())
    flash(gettext("Task reassigned to %(user)s.", user=person(task.assignee)), "ok")
    return redirect(url_for("tasks.task_page", task_id=task_id))


@bp.route("/<task_id>/release", methods=["POST"])
@login_required
def release(task_id: str):
    tasks.release_task(db.session, task_id, current_actor())
    flash(gettext("The claim is released; everyone holding the task's role can take it now."), "ok")
    return redirect(url_for("tasks.task_page", task_id=task_id))


@bp.route("/<task_id>/urge", methods=["POST"])
@login_required
def urge(task_id: str):
    tasks.urge_task(db.session, task_id, request.form.get("note", ""), current_actor())
    flash(gettext("Reminder sent. Its holder sees it on the task and in their task list."), "ok")
    return redirect(url_for("tasks.task_page", task_id=task_id))


@bp.route("/<task_id>/complete", methods=["POST"])
@login_required
def complete(task_id: str):
    actor = current_actor()
    task = tasks.get_task(db.session, task_id, actor)
    data = submitted_data(tasks.task_form(db.session, task), request.form)
    lock_version = request.form.get("lock_version", type=int)
    case = tasks.complete_task(db.session, task_id, data, actor, lock_version)
    flash(gettext("Task “%(title)s” completed.", title=task.title), "ok")
    return redirect(url_for("cases.case_page", case_id=case.id))


@bp.route("/<task_id>/draft", methods=["POST"])
@login_required
def save_draft(task_id: str):
    """保存草稿: the form as entered, kept for its holder without completing the task."""
    actor = current_actor()
    task = tasks.get_task(db.session, task_id, actor)
    data = {f["id"]: request.form.get(f["id"], "").strip() for f in editable(tasks.task_form(db.session, task))
            if request.form.get(f["id"], "").strip()}
    tasks.save_draft(db.session, task_id, data, actor)
    flash(gettext("Draft saved. It is not part of the case until you complete the task."), "ok")
    return redirect(url_for("tasks.task_page", task_id=task_id))


@bp.errorhandler(InvalidData)
def form_rejected(exc: InvalidData):
    """The engine rejected the form: the same page again with per-field messages and the values kept."""
    from webui.errors import _render

    if request.endpoint in ("tasks.reassign", "tasks.urge"):  # the task page again, the reason above its forms
        db.session.rollback()
        task = tasks.get_task(db.session, request.view_args["task_id"], current_actor())
        return _render_task(task, 422, oversee_error=localize(exc.message))
    if request.endpoint != "tasks.complete":
        return _render(422, exc.code, exc.message, exc.details, show_message=True)
    db.session.rollback()
    task = tasks.get_task(db.session, request.view_args["task_id"], current_actor())
    return _render_task(task, 422, request.form, exc.details)
