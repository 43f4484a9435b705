"""/dashboard for supervisors and directors (auditors and administrators read it too): KPI tiles, the trend, bars
by unit and by category, the overdue board by ladder step and unit, the latest-due late cases and the 1把尺子
ranking. The page is a frame and a JSON config block; its script (static/js/dashboard/dashboard.js) reads the
JSON API (/api/v1/stats, /api/v1/dashboard/overdue, /api/v1/cases) and draws with ECharts, served from the npm
package like bpmn-js (never a CDN)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from flask import Blueprint, current_app, render_template, send_from_directory, url_for
from flask_babel import gettext

from engine.clock import CHINA_TZ
from engine.errors import Forbidden
from engine.messages import msg
from engine.services import ledger, oversight
from webui import labels
from webui.auth import current_actor, login_required
from webui.extensions import current_runtime, db
from webui.shell import acting_actor

bp = Blueprint("dashboard", __name__)

ECHARTS_FILE = "echarts.min.js"


def _echarts_dir() -> Path:
    root = current_app.config.get("JIEFEN_NODE_MODULES") or Path(current_app.root_path).parent / "node_modules"
    return Path(root) / "echarts" / "dist"


def figure_names() -> dict[str, str]:
    """The statistics figures as the dashboard names them (docs/statistics.md defines each), in tile order."""
    return {"received": gettext("Received"), "closed": gettext("Cases closed"), "closed_rate": gettext("Closing rate"),
            "closed_on_time_rate": gettext("Closed on time"), "resolved": gettext("Cases resolved"),
            "resolved_rate": gettext("Resolution rate"), "responded_on_time_rate": gettext("Response rate"),
            "satisfaction_rate": gettext("Satisfaction rate"), "overdue_open": gettext("Overdue, open"),
            "avg_handling_days": gettext("Average handling days")}


@bp.route("/dashboard")
@login_required
def dashboard_page():
    actor = acting_actor(current_actor())
    if not oversight.may_oversee(actor):
        raise Forbidden(msg("oversight.forbidden"))
    today = current_runtime().clock.now().astimezone(CHINA_TZ).date()
    units = ledger.org_unit_choices(db.session, actor)
    weights = current_runtime().settings.ranking_weights
    config = {
        "from": date(today.year, 1, 1).isoformat(), "to": today.isoformat(),
        "urls": {"stats": url_for("api.stats") if "api.stats" in current_app.view_functions else "/api/v1/stats",
                 "overdue": url_for("api.overdue_board"), "cases": url_for("api.list_cases"),
                 "ledger": url_for("ledger.ledger_page"), "case": url_for("cases.case_page", case_id=0)[:-1]},
        # a list, not an object: the tiles keep this order (JSON objects are written with sorted keys)
        "figures": list(figure_names().items()),
        "levels": {str(k): str(v) for k, v in labels.LEVELS.items()},
        "weights": weights,
        "text": {"score": gettext("Score"), "unit": gettext("Unit"), "late_tasks": gettext("Late tasks"),
                 "days_late": gettext("%(n)s days late", n="{n}"), "none": gettext("Nothing to show."),
                 "error": gettext("The figures could not be loaded: %(why)s", why="{why}"),
                 "rolled_up": gettext("Figures of a unit include the units below it."),
                 "not_recorded": gettext("Self-assessment and center assessment are not recorded yet; the public's rating is the satisfaction rate."),
                 "supervision": gettext("Supervision steps issued in the period"),
                 "month": gettext("Month"), "category": gettext("Category"),
                 "unrated": gettext("%(n)s more without figures in this period", n="{n}")},
    }
    return render_template("dashboard/dashboard.html", config=config, units=units,
                           echarts_available=(_echarts_dir() / ECHARTS_FILE).is_file(), weights=weights,
                           figure_names=figure_names())


@bp.route("/vendor/echarts/<path:filename>")
def echarts(filename: str):
    """ECharts from the npm package in node_modules/ (installed by the setup command, never committed)."""
    return send_from_directory(_echarts_dir(), filename, max_age=86400)
