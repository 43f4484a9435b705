"""/admin/decisions: the decision tables (DMN) with their versions and the processes using them, and the table
editor (dmn-js's decision table view): edit a cell, check the table on the server, deploy it as the next version
(administrators; designers edit and check). Joins the admin blueprint (webui/admin/views.py)."""
from __future__ import annotations

from flask import render_template, url_for
from flask_babel import gettext
from flask_wtf.csrf import generate_csrf

from engine.services import processes
from webui.admin.views import MODELER_PACKAGES, _node_modules, _optional_int, bp
from webui.auth import current_actor, login_required
from webui.extensions import db
from webui.i18n import is_chinese as i18n_is_chinese

DMN_MODELER_FILE = "dmn-modeler.production.min.js"
HIT_POLICY_NAMES = {"UNIQUE": "唯一（UNIQUE）", "FIRST": "首条（FIRST）", "PRIORITY": "优先级（PRIORITY）",
                    "ANY": "任一（ANY）", "COLLECT": "汇总（COLLECT）", "RULE ORDER": "按规则顺序（RULE ORDER）",
                    "OUTPUT ORDER": "按输出顺序（OUTPUT ORDER）"}


def _dmn_available() -> bool:
    return (_node_modules() / MODELER_PACKAGES["dmn-js"] / DMN_MODELER_FILE).is_file()


@bp.route("/decisions")
@login_required
def decision_list():
    """Every decision table with its versions (who deployed each when, with what note) and the processes whose
    active version uses it. Administrators, auditors and designers."""
    actor = current_actor()
    items = processes.list_decisions(db.session, actor)
    names = {p.process_id: p.name or p.process_id for p in processes.list_processes(db.session)}
    return render_template("admin/decisions.html", items=items, process_names=names,
                           hit_names=HIT_POLICY_NAMES if i18n_is_chinese() else {})


@bp.route("/decisions/<decision_id>/edit")
@login_required
def decision_editor(decision_id: str):
    """The table editor on a version (?version=n, else the newest). Administrators and designers edit and check;
    administrators deploy."""
    actor = current_actor()
    (info,) = processes.list_decisions(db.session, actor, decision_id)
    version, _xml = processes.decision_xml(db.session, actor, decision_id, _optional_int("version"))
    may_edit = actor.is_admin or actor.is_designer
    config = {
        "decisionId": decision_id, "version": version, "latest": info.latest_version, "isAdmin": actor.is_admin,
        "mayEdit": may_edit, "csrfToken": generate_csrf(), "lang": "zh" if i18n_is_chinese() else "en",
        "processNames": {p.process_id: p.name or p.process_id for p in processes.list_processes(db.session)},
        "urls": {"source": url_for("api.get_decision", decision_id=decision_id, version=version),
                 "validate": url_for("api.validate_decision", filename=info.versions[0].file_name),
                 "deploy": url_for("api.deploy_decision", filename=info.versions[0].file_name),
                 "list": url_for("admin.decision_list")},
        "text": {"loadFailed": gettext("The table editor could not be loaded."),
                 "checking": gettext("Checking…"), "ok": gettext("No problems: the table can be deployed."),
                 "problems": gettext("%(count)s problem(s): the table cannot be deployed.", count="{count}"),
                 "deploying": gettext("Deploying…"),
                 "deployed": gettext("Version %(version)s deployed.", version="{version}"),
                 "unchanged": gettext("Nothing changed: the deployed version stays."),
                 "processes": gettext("New versions of the processes using it: %(names)s", names="{names}"),
                 "failed": gettext("Not deployed:"), "changed": gettext("Changed, not deployed"),
                 "line": gettext("line %(line)s", line="{line}")},
    }
    return render_template("admin/decision_editor.html", info=info, version=version, config=config,
                           available=_dmn_available(), modeler_file=DMN_MODELER_FILE, may_edit=may_edit,
                           hit_names=HIT_POLICY_NAMES if i18n_is_chinese() else {})
