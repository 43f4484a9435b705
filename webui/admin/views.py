"""/admin/processes: every process with its versions (who deployed each when, with what note; which one new
cases start on; how many open cases run on each), activation (a rollback or forward again) and the record of
deploys and activations. One service call per request (engine/services/processes.py)."""
from __future__ import annotations

from pathlib import Path

from flask import (Blueprint, Response, abort, current_app, flash, redirect, render_template, request,
                   send_from_directory, url_for)
from flask_babel import gettext
from flask_wtf.csrf import generate_csrf

from engine.errors import Conflict, Forbidden, InvalidData
from engine.messages import msg
from engine.services import migration, processes, users
from webui.auth import current_actor, login_required
from webui.diagram_layout import with_layout
from webui.extensions import db
from webui.i18n import is_chinese as i18n_is_chinese
from webui.i18n import localize_details, safe_next

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/processes")
@login_required
def process_list():
    actor = current_actor()
    items = processes.process_overview(db.session, actor)
    drafts = processes.list_drafts(db.session, actor) if (actor.is_admin or actor.is_designer) else []
    decisions = processes.list_decisions(db.session, actor)
    submitted = processes.submitted_drafts(db.session, actor) if actor.is_admin else []
    return render_template("admin/processes.html", items=items, drafts=drafts, decisions=decisions, submitted=submitted,
                           process_names={**{d.decision_id: d.name or d.decision_id for d in decisions},
                                          **{p.process_id: p.name or p.process_id for p in items}},
                           audit=processes.process_audit(db.session, actor, limit=20))


@bp.route("/processes/<process_id>")
@login_required
def process_page(process_id: str):
    actor = current_actor()
    info = processes.process_overview(db.session, actor, process_id)[0]
    drafts = processes.list_drafts(db.session, actor, process_id) if (actor.is_admin or actor.is_designer) else []
    deployed = request.args.get("deployed", "")
    submitted = processes.submitted_drafts(db.session, actor, process_id) if actor.is_admin else []
    return render_template("admin/process.html", info=info, drafts=drafts, migrate_from=_migrate_from(info),
                           submitted=submitted,
                           deployed=int(deployed) if deployed.isdigit() and len(deployed) < 9 else None,
                           process_names={info.process_id: info.name or info.process_id},
                           audit=processes.process_audit(db.session, actor, process_id))


@bp.route("/processes/<process_id>/activate", methods=["POST"])
@login_required
def activate(process_id: str):
    try:
        version = int(request.form.get("version", ""))
    except ValueError:
        raise InvalidData(msg("form.invalid"), {"version": [msg("field.required")]}) from None
    info = processes.activate_version(db.session, process_id, version, current_actor(), request.form.get("note"))
    flash(gettext("New cases of %(name)s now start on version %(version)s.", name=info.name or process_id,
                  version=info.active_version), "ok")
    return redirect(url_for("admin.process_page", process_id=process_id))


# -- migrating running cases between versions (issue 19 §4) ------------------------------------------------------

def _version_arg(name: str, default: int | None) -> int | None:
    value = request.values.get(name, "")
    if value == "":
        return default
    if not value.isdigit() or len(value) > 9:
        raise InvalidData(msg("form.invalid"), {name: [msg("field.required")]})
    return int(value)


def _migrate_from(info) -> int:
    """The version a migration starts from unless chosen: the oldest inactive one with open cases."""
    with_cases = [v.version for v in info.versions if v.open_cases and not v.active]
    return with_cases[-1] if with_cases else info.versions[-1].version


@bp.route("/processes/<process_id>/migrate", methods=["GET", "POST"])
@login_required
def process_migrate(process_id: str):
    """Preview (GET: the dry run per case, a mapping for open steps the new version lacks), choose and run
    (POST: the chosen cases move, the report shows what moved and what did not, with the reasons).
    Administrators only (the service refuses others)."""
    actor = current_actor()
    info = processes.process_overview(db.session, actor, process_id)[0]
    from_version = _version_arg("from_version", _migrate_from(info))
    to_version = _version_arg("to_version", info.active_version)
    mapping = {key[4:]: value for key, value in request.values.items()
               if key.startswith("map-") and value and len(key) < 205 and len(value) < 201}
    report = None
    if from_version != to_version:
        if request.method == "POST":
            chosen = [int(v) for v in request.form.getlist("case_id") if v.isdigit() and len(v) < 12]
            report = migration.migrate_cases(db.session, process_id, from_version, to_version, actor,
                                             task_mapping=mapping, dry_run=False, case_ids=chosen,
                                             note=request.form.get("note"))
        else:
            report = migration.migrate_cases(db.session, process_id, from_version, to_version, actor,
                                             task_mapping=mapping, dry_run=True)
    elif not actor.is_admin:
        raise Forbidden(msg("migration.forbidden"))
    unmapped = []  # open steps of the old version with no counterpart: offered a mapping
    if report is not None:
        seen = set()
        for case in report.cases:
            for step in case.steps:
                if step.kind == "task" and (step.to_id is None or step.from_id in mapping) and step.from_id not in seen:
                    seen.add(step.from_id)
                    unmapped.append(step)
    return render_template("admin/migrate.html", info=info, report=report, from_version=from_version,
                           to_version=to_version, mapping=mapping, unmapped=unmapped,
                           process_names={info.process_id: info.name or info.process_id})


# -- comparing two deployed versions (issue 19 §3) ----------------------------------------------------------------

def _element_types() -> dict[str, str]:
    """What an element without a name is called in a change list (its id is not for people)."""
    return {"sequenceFlow": gettext("a flow"), "exclusiveGateway": gettext("a gateway"),
            "parallelGateway": gettext("a gateway"), "inclusiveGateway": gettext("a gateway"),
            "startEvent": gettext("a start event"), "endEvent": gettext("an end event"),
            "boundaryEvent": gettext("a boundary event"), "intermediateCatchEvent": gettext("an intermediate event"),
            "lane": gettext("a lane"), "scriptTask": gettext("a script task"), "userTask": gettext("a user task")}


def _end_kinds() -> dict[str, str]:
    """What an unnamed end of a flow is called beside a named one ("研判 → 网关")."""
    return {"exclusiveGateway": gettext("gateway"), "parallelGateway": gettext("parallel gateway"),
            "inclusiveGateway": gettext("inclusive gateway"), "eventBasedGateway": gettext("gateway"),
            "startEvent": gettext("start"), "endEvent": gettext("end"), "boundaryEvent": gettext("boundary event"),
            "intermediateCatchEvent": gettext("intermediate event"),
            "intermediateThrowEvent": gettext("intermediate event")}


def change_label(change, types: dict[str, str]) -> str:
    """What a change list calls an element: its name; an unnamed sequence flow by its ends and condition
    ("研判 → 分流（tier == 'major'）"); else what kind of element it is (its id is not for people)."""
    if change.name:
        return change.name
    if change.source or change.target:
        def end(e):
            return (e.get("name") or _end_kinds().get(e.get("type")) or types.get(e.get("type"))
                    or gettext("an element")) if e else "?"
        label = f"{end(change.source)} → {end(change.target)}"
        if change.condition:
            label += f"（{change.condition}）" if i18n_is_chinese() else f" ({change.condition})"
        return label
    return types.get(change.type) or gettext("an element")


@bp.route("/processes/<process_id>/compare")
@login_required
def process_compare(process_id: str):
    """What version b changes in version a: the changed elements listed (with what changed) and marked on b's
    diagram, as the modeler shows a draft's changes. Administrators, auditors and process designers."""
    actor = current_actor()
    info = processes.process_overview(db.session, actor, process_id)[0]
    newest = info.versions[0].version
    older = info.versions[1].version if len(info.versions) > 1 else newest
    a, b = _version_arg("a", older), _version_arg("b", newest)
    changes = processes.version_diff(db.session, actor, process_id, a, b)
    text = _modeler_text()
    config = {"xmlUrl": url_for("admin.process_version_diagram", process_id=process_id, version=b),
              "changes": [{"element_id": c.element_id, "change": c.change} for c in changes if c.change != "removed"]}
    return render_template("admin/compare.html", info=info, a=a, b=b, changes=changes, parts=text["parts"],
                           words={k: text[k] for k in ("added", "removed", "changed")}, config=config,
                           sep="、" if i18n_is_chinese() else ", ",
                           labels={c.element_id: change_label(c, _element_types()) for c in changes},
                           viewer_available=(_node_modules() / MODELER_PACKAGES["bpmn-js"] / VIEWER_FILE).is_file(),
                           viewer_file=VIEWER_FILE, process_names={info.process_id: info.name or info.process_id})


# -- the modeler (issue 19 §2–§3) --------------------------------------------------------------------------------

# The browser packages the modeler loads, from node_modules/ (`make setup`; never committed, never a CDN): only
# these folders of these packages are served.
MODELER_PACKAGES = {
    "bpmn-js": "bpmn-js/dist",
    "properties-panel": "bpmn-js-properties-panel/dist",
    "properties-panel-css": "@bpmn-io/properties-panel/dist/assets",
    "camunda-moddle": "camunda-bpmn-moddle/resources",
    "dmn-js": "dmn-js/dist",  # the decision table editor (/admin/decisions, decision_views.py)
    # the modeler's 模拟运行: bundled at setup (`make node`: the package ships ES modules only)
    "token-simulation": "bpmn-js-token-simulation/dist",
    "token-simulation-css": "bpmn-js-token-simulation/assets/css",
}
MODELER_FILE = "bpmn-modeler.production.min.js"
VIEWER_FILE = "bpmn-navigated-viewer.production.min.js"  # the comparison's diagram (read-only)
PANEL_FILE = "bpmn-js-properties-panel.umd.js"
SIMULATION_FILE = "bpmn-js-token-simulation.js"


def _node_modules() -> Path:
    return Path(current_app.config.get("JIEFEN_NODE_MODULES") or Path(current_app.root_path).parent / "node_modules")


@bp.route("/vendor/<package>/<path:filename>")
def modeler_vendor(package: str, filename: str):
    """The modeler's npm packages (bpmn-js, the properties panel and its styles, camunda-bpmn-moddle)."""
    folder = MODELER_PACKAGES.get(package)
    if folder is None:
        abort(404)
    return send_from_directory(_node_modules() / folder, filename, max_age=86400)


def _simulation_available() -> bool:
    return (_node_modules() / MODELER_PACKAGES["token-simulation"] / SIMULATION_FILE).is_file()


def _modeler_available() -> bool:
    root = _node_modules()
    return ((root / MODELER_PACKAGES["bpmn-js"] / MODELER_FILE).is_file()
            and (root / MODELER_PACKAGES["properties-panel"] / PANEL_FILE).is_file()
            and (root / MODELER_PACKAGES["camunda-moddle"] / "camunda.json").is_file())


def _optional_int(name: str) -> int | None:
    value = request.args.get(name)
    if value in (None, ""):
        return None
    if not value.isdigit() or len(value) > 9:
        abort(404)  # names no draft or version
    return int(value)


@bp.route("/processes/<process_id>/versions/<int:version>.bpmn")
@login_required
def version_file(process_id: str, version: int):
    """A deployed version's BPMN XML (the modeler opens it; designers download it)."""
    _number, xml = processes.version_xml(db.session, current_actor(), process_id, version)
    return Response(xml, mimetype="application/xml", headers={"Cache-Control": "private, max-age=3600"})


@bp.route("/processes/<process_id>/versions/<int:version>/diagram.bpmn")
@login_required
def process_version_diagram(process_id: str, version: int):
    """A deployed version's XML for drawing: with a generated layout when the file has none (as a case's diagram)."""
    _number, xml = processes.version_xml(db.session, current_actor(), process_id, version)
    drawn, _generated = with_layout(xml)
    return Response(drawn, mimetype="application/xml", headers={"Cache-Control": "private, max-age=3600"})


@bp.route("/processes/<process_id>/model")
@login_required
def modeler(process_id: str):
    """The modeler: a draft (?draft=id, the caller's own), or a deployed version (?version=n, else the active
    one) that becomes a draft on the first change. Administrators and process designers."""
    actor = current_actor()
    mine = processes.list_drafts(db.session, actor)  # designers and administrators only (Forbidden otherwise)
    draft_id = _optional_int("draft")
    draft = processes.get_draft(db.session, draft_id, actor) if draft_id is not None else None
    if draft is not None:
        if draft.target != process_id:
            return redirect(url_for("admin.modeler", process_id=draft.target, draft=draft.id))
        version, name, newest = draft.base_version, draft.name, None
        if draft.process_id is not None:
            newest = processes.process_overview(db.session, actor, process_id)[0].newest_version
        source_url = url_for("api.get_process_draft", draft_id=draft.id)
    else:
        version, _xml = processes.version_xml(db.session, actor, process_id, _optional_int("version"))
        info = processes.process_overview(db.session, actor, process_id)[0]
        name, newest = info.name, info.newest_version
        source_url = url_for("admin.version_file", process_id=process_id, version=version)
    roles = [{"id": r.name, "title": _role_title(r.title) or r.name} for r in users.list_roles(db.session)]
    others = [d for d in mine if d.target == process_id and (draft is None or d.id != draft.id)]
    config = {
        "processId": process_id, "draftId": draft.id if draft else None, "baseVersion": version,
        "name": name, "isNew": bool(draft and draft.process_id is None), "sourceUrl": source_url,
        "sourceIsDraft": draft is not None, "isAdmin": actor.is_admin, "csrfToken": generate_csrf(),
        "readOnly": draft is not None and draft.author != actor.username,
        "roles": roles, "lang": "zh" if i18n_is_chinese() else "en", "text": _modeler_text(),
        "urls": {"drafts": url_for("api.create_process_draft"), "validate": url_for("api.validate_process"),
                 "draft": url_for("api.get_process_draft", draft_id=0).rsplit("/", 1)[0] + "/",
                 "modelPage": url_for("admin.modeler", process_id=process_id),
                 "processPage": url_for("admin.process_page", process_id=process_id),
                 "processList": url_for("admin.process_list"),
                 "moddle": url_for("admin.modeler_vendor", package="camunda-moddle", filename="camunda.json")},
    }
    return render_template("admin/modeler.html", process_id=process_id, name=name, version=version, draft=draft,
                           newest=newest if newest and version and newest > version else None,
                           others=others, config=config, modeler_available=_modeler_available(),
                           modeler_file=MODELER_FILE, panel_file=PANEL_FILE,
                           simulation_available=_simulation_available(), simulation_file=SIMULATION_FILE)


def _modeler_text() -> dict[str, str]:
    """The modeler script's own words, in the page's language."""
    return {
        "loadFailed": gettext("The modeler could not be loaded."),
        "notChanged": gettext("No changes yet"),
        "readOnly": gettext("Submitted by its author: changes here are not saved. Deploy it as submitted, or return it with a note."),
        "draftOpened": gettext("Draft opened"),
        "unsaved": gettext("Unsaved changes…"),
        "saving": gettext("Saving…"),
        "saved": gettext("Saved"),
        "saveFailed": gettext("Not saved: the server did not take the draft. Your changes stay on this page."),
        "checking": gettext("Checking…"),
        "checkFailed": gettext("The check could not run."),
        "noProblems": gettext("No problems: this process can be deployed."),
        "problems": gettext("%(count)s problem(s): fix them before deploying."),
        "wholeProcess": gettext("Process"),
        "deploying": gettext("Deploying…"),
        "deployFailed": gettext("The draft was not deployed."),
        "deployNoChange": gettext("Change the process first: deploying makes its draft the next version."),
        "deployHasProblems": gettext("Fix the problems first."),
        "simulating": gettext("Simulation: start a token on a start event (▶); the diagram cannot be edited until you leave the simulation."),
        "rolesPick": gettext("Select a user task to add roles to its candidate groups."),
        "rolesFor": gettext("Click a role to add it to the candidate groups of %(name)s."),
        "diffNone": gettext("No changes to v%(version)s yet."),
        "diffCount": gettext("%(count)s element(s) differ from v%(version)s."),
        "added": gettext("added"), "removed": gettext("removed"), "changed": gettext("changed"),
        "types": _element_types(), "ends": _end_kinds(), "anElement": gettext("an element"),
        "parts": {"name": gettext("name"), "type": gettext("type"), "camunda:candidateGroups": gettext("candidate groups"),
                  "camunda:dueDate": gettext("due date"), "camunda:assignee": gettext("assignee"),
                  "documentation": gettext("documentation"), "condition": gettext("condition"),
                  "form": gettext("form"), "properties": gettext("jiefen properties"), "timer": gettext("timer"),
                  "script": gettext("script"), "lane members": gettext("lane members"),
                  "sourceRef": gettext("source"), "targetRef": gettext("target"), "default": gettext("default flow"),
                  "multi-instance": gettext("multi-instance"), "inputs/outputs": gettext("inputs/outputs")},
    }


def _role_title(title: str | None) -> str | None:
    """A role's title in the page's language: the catalogue keeps "中文 / English"."""
    if not title:
        return None
    chinese, _, english = title.partition(" / ")
    return chinese if i18n_is_chinese() or not english else english


@bp.route("/processes/new", methods=["GET", "POST"])
@login_required
def new_process():
    """A new process from the template (start event, 受理登记 with a form, 调解处理, end event, two lanes), as a
    draft of the caller's, opened in the modeler."""
    actor = current_actor()
    if request.method == "GET":
        processes.list_drafts(db.session, actor)  # designers and administrators only
        return render_template("admin/new_process.html", values={})
    draft = processes.create_draft(db.session, actor, new_process_id=request.form.get("process_id", ""),
                                   name=request.form.get("name"))
    return redirect(url_for("admin.modeler", process_id=draft.target, draft=draft.id))


def submit_form(submit, draft_id: int, back: str):
    """A designer's 提交审核 form (a process or a decision table draft): `submit` is the service's, `back` the
    list to return to when the form names no page."""
    submit(db.session, draft_id, current_actor(), request.form.get("note"))
    flash(gettext("The draft was submitted: an administrator will deploy it or send it back with a note."), "ok")
    return redirect(safe_next(request.form.get("next"), url_for(back)))


def return_form(send_back, draft_id: int, back: str):
    """An administrator's 退回 form: the draft goes back to its author with the note."""
    draft = send_back(db.session, draft_id, current_actor(), request.form.get("note"))
    flash(gettext("The draft went back to %(author)s.", author=draft.author), "ok")
    return redirect(safe_next(request.form.get("next"), url_for(back)))


@bp.route("/processes/drafts/<int:draft_id>/submit", methods=["POST"])
@login_required
def process_draft_submit(draft_id: int):
    """A designer hands their draft over for deployment (提交审核)."""
    return submit_form(processes.submit_draft, draft_id, "admin.process_list")


@bp.route("/processes/drafts/<int:draft_id>/return", methods=["POST"])
@login_required
def process_draft_return(draft_id: int):
    """An administrator sends a submitted draft back to its author with a note."""
    return return_form(processes.return_draft, draft_id, "admin.process_list")


@bp.route("/processes/drafts/<int:draft_id>/deploy", methods=["POST"])
@login_required
def process_draft_deploy(draft_id: int):
    """An administrator deploys a submitted draft as the next version (the deploy check's problems refuse it, and
    the draft stays submitted)."""
    results = processes.deploy_draft(db.session, draft_id, current_actor(), request.form.get("note"))
    first = results[0]
    return redirect(url_for("admin.process_page", process_id=first.process_id,
                            deployed=first.version if any(r.created for r in results) else None))


@bp.route("/processes/drafts/<int:draft_id>/discard", methods=["POST"])
@login_required
def discard_draft(draft_id: int):
    processes.discard_draft(db.session, draft_id, current_actor())
    flash(gettext("The draft was discarded."), "ok")
    return redirect(safe_next(request.form.get("next"), url_for("admin.process_list")))


@bp.errorhandler(InvalidData)
@bp.errorhandler(Conflict)
def form_rejected(exc: InvalidData | Conflict):
    """A new process refused (a bad or taken id): the form again with the message and what was typed."""
    from webui.errors import _render, status_of

    if request.endpoint != "admin.new_process":
        return _render(status_of(exc), exc.code, exc.message, exc.details, show_message=True)
    db.session.rollback()
    errors = localize_details(exc.details) if isinstance(exc.details, dict) else {}
    return render_template("admin/new_process.html", values=request.form, errors=errors), status_of(exc)


from webui.admin import users_views  # noqa: F401  (/admin/users and /admin/log join this blueprint)
from webui.admin import calendar_views  # noqa: E402,F401  (/admin/calendar joins this blueprint)
from webui.admin import org_views  # noqa: E402,F401  (/admin/org, /admin/roles join this blueprint)
from webui.admin import ladder_views  # noqa: E402,F401  (/admin/ladder, /admin/settings join this blueprint)
from webui.admin import decision_views  # noqa: E402,F401  (/admin/decisions joins this blueprint)
from webui.admin import access_views  # noqa: E402,F401  (/admin/access-log joins this blueprint)
