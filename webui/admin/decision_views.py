"""/admin/decisions: the decision tables (DMN) with their versions and the processes using them, the caller's
table drafts, a new table from the template, the table editor (dmn-js's decision table view: each change autosaved
to the caller's draft, checked on the server, listed against the version it came from; administrators deploy it
with a note) and the comparison of any two versions. Joins the admin blueprint (webui/admin/views.py)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_wtf.csrf import generate_csrf

from engine.errors import Conflict, InvalidData
from engine.services import processes
from webui.admin.views import (MODELER_PACKAGES, _node_modules, _optional_int, _version_arg, bp, return_form,
                               submit_form)
from webui.auth import current_actor, login_required
from webui.extensions import db
from webui.i18n import is_chinese as i18n_is_chinese
from webui.i18n import localize_details, safe_next

DMN_MODELER_FILE = "dmn-modeler.production.min.js"
HIT_POLICY_NAMES = {"UNIQUE": "唯一（UNIQUE）", "FIRST": "首条（FIRST）", "PRIORITY": "优先级（PRIORITY）",
                    "ANY": "任一（ANY）", "COLLECT": "汇总（COLLECT）", "RULE ORDER": "按规则顺序（RULE ORDER）",
                    "OUTPUT ORDER": "按输出顺序（OUTPUT ORDER）"}


def _dmn_available() -> bool:
    return (_node_modules() / MODELER_PACKAGES["dmn-js"] / DMN_MODELER_FILE).is_file()


def _hit_names() -> dict[str, str]:
    return HIT_POLICY_NAMES if i18n_is_chinese() else {}


@bp.route("/decisions")
@login_required
def decision_list():
    """Every decision table with its versions (who deployed each when, with what note) and the processes whose
    active version uses it; the caller's drafts. Administrators, auditors and designers."""
    actor = current_actor()
    items = processes.list_decisions(db.session, actor)
    drafts = processes.list_decision_drafts(db.session, actor) if (actor.is_admin or actor.is_designer) else []
    submitted = processes.submitted_decision_drafts(db.session, actor) if actor.is_admin else []
    names = {p.process_id: p.name or p.process_id for p in processes.list_processes(db.session)}
    names.update({d.decision_id: d.name or d.decision_id for d in items})
    return render_template("admin/decisions.html", items=items, process_names=names, drafts=drafts,
                           submitted=submitted, hit_names=_hit_names())


@bp.route("/decisions/new", methods=["GET", "POST"])
@login_required
def new_decision():
    """A new decision table from the template (hit policy FIRST, 纠纷类型 → 建议, two rules), as a draft of the
    caller's, opened in the editor. Administrators and designers."""
    actor = current_actor()
    if request.method == "GET":
        processes.list_decision_drafts(db.session, actor)  # designers and administrators only
        return render_template("admin/new_decision.html", values={})
    try:
        draft = processes.create_decision_draft(db.session, actor, new_decision_id=request.form.get("decision_id", ""),
                                                name=request.form.get("name"))
    except (InvalidData, Conflict) as exc:  # the form again, with the message and what was typed
        db.session.rollback()
        errors = localize_details(exc.details) if isinstance(exc.details, dict) else {}
        return render_template("admin/new_decision.html", values=request.form, errors=errors), \
            422 if isinstance(exc, InvalidData) else 409
    return redirect(url_for("admin.decision_editor", decision_id=draft.target, draft=draft.id))


@bp.route("/decisions/drafts/<int:draft_id>/discard", methods=["POST"])
@login_required
def discard_decision_draft(draft_id: int):
    processes.discard_decision_draft(db.session, draft_id, current_actor())
    flash(gettext("The draft was discarded."), "ok")
    return redirect(safe_next(request.form.get("next"), url_for("admin.decision_list")))


@bp.route("/decisions/drafts/<int:draft_id>/submit", methods=["POST"])
@login_required
def decision_draft_submit(draft_id: int):
    """A designer hands their table draft over for deployment (提交审核)."""
    return submit_form(processes.submit_decision_draft, draft_id, "admin.decision_list")


@bp.route("/decisions/drafts/<int:draft_id>/return", methods=["POST"])
@login_required
def decision_draft_return(draft_id: int):
    """An administrator sends a submitted table draft back to its author with a note."""
    return return_form(processes.return_decision_draft, draft_id, "admin.decision_list")


@bp.route("/decisions/drafts/<int:draft_id>/deploy", methods=["POST"])
@login_required
def decision_draft_deploy(draft_id: int):
    """An administrator deploys a submitted table draft as the next version (refused cells refuse it, and the
    draft stays submitted)."""
    results = processes.deploy_decision_draft(db.session, draft_id, current_actor(), request.form.get("note"))
    table = next(r for r in results if r.kind == "decision")
    if table.created:
        flash(gettext("Version %(version)s deployed.", version=table.version), "ok")
    else:
        flash(gettext("Nothing changed: the deployed version stays."), "ok")
    return redirect(url_for("admin.decision_list"))


@bp.route("/decisions/drafts/<int:draft_id>/changes")
@login_required
def decision_draft_changes(draft_id: int):
    """The list of what a draft changes in its version (the editor puts it under the table after each save)."""
    base, changes = processes.decision_draft_diff(db.session, draft_id, current_actor())
    return render_template("admin/_table_changes.html", changes=changes, base=base, hit_names=_hit_names())


@bp.route("/decisions/<decision_id>/compare")
@login_required
def decision_compare(decision_id: str):
    """What version b of a table changes in version a: the table, its columns and rules, cell by cell.
    Administrators, auditors and designers."""
    actor = current_actor()
    (info,) = processes.list_decisions(db.session, actor, decision_id)
    newest = info.versions[0].version
    older = info.versions[1].version if len(info.versions) > 1 else newest
    a, b = _version_arg("a", older), _version_arg("b", newest)
    changes = processes.decision_version_diff(db.session, actor, decision_id, a, b)
    return render_template("admin/decision_compare.html", info=info, a=a, b=b, changes=changes,
                           hit_names=_hit_names())


@bp.route("/decisions/<decision_id>/edit")
@login_required
def decision_editor(decision_id: str):
    """The table editor on one of the caller's drafts (?draft=id), or a version (?version=n, else the newest)
    that becomes a draft of the caller's on the first change. Administrators and designers edit and check;
    administrators deploy."""
    actor = current_actor()
    draft_id = _optional_int("draft")
    draft = processes.get_decision_draft(db.session, draft_id, actor) if draft_id is not None else None
    if draft is not None and draft.target != decision_id:
        return redirect(url_for("admin.decision_editor", decision_id=draft.target, draft=draft.id))
    info = None
    if draft is None or draft.decision_id is not None:
        (info,) = processes.list_decisions(db.session, actor, decision_id)
    if draft is not None:
        version, source = draft.base_version, url_for("api.get_decision_draft", draft_id=draft.id)
    else:
        version, _xml = processes.decision_xml(db.session, actor, decision_id, _optional_int("version"))
        source = url_for("api.get_decision", decision_id=decision_id, version=version)
    may_edit = actor.is_admin or actor.is_designer
    file_name = info.versions[0].file_name if info else f"{decision_id}.dmn"
    others = [d for d in (processes.list_decision_drafts(db.session, actor, decision_id) if may_edit else [])
              if draft is None or d.id != draft.id]
    config = {
        "decisionId": decision_id, "version": version, "latest": info.latest_version if info else None,
        "draftId": draft.id if draft else None, "isAdmin": actor.is_admin,
        # another author's draft submitted for deployment: the administrator checks and deploys it as submitted
        "readOnly": draft is not None and draft.author != actor.username,
        "mayEdit": may_edit, "csrfToken": generate_csrf(), "lang": "zh" if i18n_is_chinese() else "en",
        "processNames": {p.process_id: p.name or p.process_id for p in processes.list_processes(db.session)},
        "urls": {"source": source, "sourceIsDraft": draft is not None,
                 "validate": url_for("api.validate_decision", filename=file_name),
                 "drafts": url_for("api.create_decision_draft"),
                 "draft": url_for("api.get_decision_draft", draft_id=0).rsplit("/", 1)[0] + "/",
                 "changes": url_for("admin.decision_draft_changes", draft_id=0).rsplit("/", 2)[0] + "/",
                 "editPage": url_for("admin.decision_editor", decision_id=decision_id),
                 "list": url_for("admin.decision_list")},
        "text": {"loadFailed": gettext("The table editor could not be loaded."),
                 "readOnly": gettext("Submitted by its author: changes here are not saved. Deploy it as submitted, or return it with a note."),
                 "checking": gettext("Checking…"), "ok": gettext("No problems: the table can be deployed."),
                 "problems": gettext("%(count)s problem(s): the table cannot be deployed.", count="{count}"),
                 "deploying": gettext("Deploying…"),
                 "deployed": gettext("Version %(version)s deployed.", version="{version}"),
                 "unchanged": gettext("Nothing changed: the deployed version stays."),
                 "processes": gettext("New versions of the processes using it: %(names)s", names="{names}"),
                 "failed": gettext("Not deployed:"), "changed": gettext("Changed, not deployed"),
                 "unsaved": gettext("Unsaved changes…"), "saving": gettext("Saving…"), "saved": gettext("Saved"),
                 "saveFailed": gettext("Not saved: the server did not take the draft. Your changes stay on this page."),
                 "draftOpened": gettext("Draft opened"),
                 "draftFrom": gettext("draft from v%(version)s", version="{version}"),
                 "line": gettext("line %(line)s", line="{line}")},
    }
    return render_template("admin/decision_editor.html", info=info, version=version, config=config, draft=draft,
                           decision_id=decision_id, name=(draft.name if draft else None) or (info.name if info else None),
                           others=others, available=_dmn_available(), modeler_file=DMN_MODELER_FILE,
                           may_edit=may_edit, hit_names=_hit_names())
