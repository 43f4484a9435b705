"""/admin/processes: every process with its versions (who deployed each when, with what note; which one new
cases start on; how many open cases run on each), activation (a rollback or forward again) and the record of
deploys and activations. One service call per request (engine/services/processes.py)."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext

from engine.errors import InvalidData
from engine.messages import msg
from engine.services import processes
from webui.auth import current_actor, login_required
from webui.extensions import db

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/processes")
@login_required
def process_list():
    actor = current_actor()
    items = processes.process_overview(db.session, actor)
    return render_template("admin/processes.html", items=items,
                           process_names={p.process_id: p.name or p.process_id for p in items},
                           audit=processes.process_audit(db.session, actor, limit=20))


@bp.route("/processes/<process_id>")
@login_required
def process_page(process_id: str):
    actor = current_actor()
    info = processes.process_overview(db.session, actor, process_id)[0]
    return render_template("admin/process.html", info=info,
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


from webui.admin import users_views  # noqa: F401  (/admin/users and /admin/log join this blueprint)
