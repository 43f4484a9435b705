"""/admin/ladder: the supervision ladder's policy — per case tier whether it runs and its steps (提示 / 催办 / 督办 /
挂牌督办, each before or after the due date in days, working days or hours), per kind of unit who answers and who
reviews — saved for tasks opened from now on or also for the open ones; its history. /admin/settings: the
group-case settings and the ranking weights. One engine service call per change
(engine/services/settings_admin.py); administrators change, auditors read (the engine decides)."""
from __future__ import annotations

import re

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext

from engine import ladder_policy
from engine.errors import InvalidData
from engine.services import org, settings_admin
from webui import labels
from webui.admin.views import bp
from webui.auth import current_actor, login_required
from webui.extensions import db
from webui.i18n import localize, localize_details
from webui.shell import role_titles

STEPS = ladder_policy.STEPS
_ERROR_KEY = re.compile(r"tiers\.(\w+)\.steps\.(\d+)(?:\.(\w+))?$")


def _policy_from_form(form) -> tuple[dict, dict[str, list[str]]]:
    """The policy the form describes, and per tier the step names in the order sent (to name errors by field)."""
    tiers, order = {}, {}
    for tier in ladder_policy.TIERS:
        steps = []
        for step in STEPS:
            if form.get(f"{tier}-{step}-on") != "1":
                continue
            raw = (form.get(f"{tier}-{step}-amount") or "").strip()
            steps.append({"step": step, "direction": form.get(f"{tier}-{step}-direction", ""),
                          "amount": int(raw) if raw.lstrip("-").isdigit() else raw,
                          "unit": form.get(f"{tier}-{step}-unit", ""),
                          "two_thirds": form.get(f"{tier}-{step}-two_thirds") == "1"})
        tiers[tier] = {"enabled": form.get(f"{tier}-enabled") == "1", "steps": steps}
        order[tier] = [s["step"] for s in steps]
    roles = {kind: {key: (form.get(f"role-{kind}-{key}") or "").strip() for key in ladder_policy.ROLE_KEYS}
             for kind in ladder_policy.UNIT_KINDS}
    return {"enabled": form.get("enabled") == "1", "tiers": tiers, "roles": roles}, order


def _form_errors(details: dict, order: dict[str, list[str]]) -> dict[str, str]:
    """Engine field names (tiers.major.steps.1.amount) as the form's (major-notice-amount)."""
    out = {}
    for key, messages in details.items():
        text = "；".join(str(m) for m in (messages if isinstance(messages, list) else [messages]))
        found = _ERROR_KEY.match(key)
        if found:
            tier, index, field = found.group(1), int(found.group(2)), found.group(3) or "step"
            steps = order.get(tier, [])
            name = steps[index] if index < len(steps) else ""
            out[f"{tier}-{name}-{field}"] = text
        elif key.startswith("tiers.") and key.endswith(".steps"):
            out[f"{key.split('.')[1]}-steps"] = text
        elif key.startswith("roles."):
            out["role-" + key[len("roles."):].replace(".", "-")] = text
        else:
            out[key] = text
    return out


def _render(actor, policy: dict, errors=None, error=None, status=200):
    view = settings_admin.get_setting(db.session, actor, "ladder")
    titles = role_titles()
    roles = sorted(((r.name, labels.role_name(r.name, titles)) for r in org.list_roles(db.session, actor)),
                   key=lambda pair: pair[1])
    steps = {tier: {s["step"]: s for s in body["steps"]} for tier, body in policy["tiers"].items()}
    return render_template("admin/ladder.html", policy=policy, steps=steps, view=view, roles=roles,
                           history=settings_admin.history(db.session, actor, "ladder"), can_change=actor.is_admin,
                           errors=errors or {}, error=error, tiers=labels.TIERS, kinds=labels.UNIT_KINDS,
                           step_names=STEP_NAMES, note=request.form.get("note", ""),
                           role_name=lambda role: labels.role_name(role, titles)), status


STEP_NAMES = {"prompt": "提示", "reminder": "催办", "notice": "督办", "listing": "挂牌督办"}


@bp.route("/ladder", methods=["GET", "POST"])
@login_required
def ladder_page():
    actor = current_actor()
    if request.method == "POST":
        policy, order = _policy_from_form(request.form)
        try:
            done = settings_admin.save_setting(db.session, actor, "ladder", policy,
                                               request.form.get("apply_to_open") == "1", request.form.get("note"))
        except InvalidData as exc:
            db.session.rollback()
            return _render(actor, policy, _form_errors(localize_details(exc.details or {}), order),
                           localize(exc.message), 422)
        if not done.changed:
            flash(gettext("Nothing changed."), "ok")
        elif request.form.get("apply_to_open") == "1":
            flash(gettext("The ladder policy is saved and applied to open tasks: the next step of %(n)s tasks in "
                          "%(cases)s cases moved.", n=done.moved, cases=len(done.cases)), "ok")
        else:
            flash(gettext("The ladder policy is saved: tasks opened from now on follow it."), "ok")
        return redirect(url_for("admin.ladder_page"))
    return _render(actor, settings_admin.get_setting(db.session, actor, "ladder").value)


# ---------------------------------------------------------------- group cases and the ranking (/admin/settings)

RATES = {"responded_on_time_rate": "响应率", "closed_on_time_rate": "按期办结率", "satisfaction_rate": "满意率",
         "closed_rate": "办结率", "resolved_rate": "化解率"}


def _render_settings(actor, values=None, errors=None, error=None, status=200):
    titles = role_titles()
    roles = sorted(((r.name, labels.role_name(r.name, titles)) for r in org.list_roles(db.session, actor)),
                   key=lambda pair: pair[1])
    group = settings_admin.get_setting(db.session, actor, "group_case")
    ranking = settings_admin.get_setting(db.session, actor, "ranking")
    return render_template("admin/settings.html", group=group, ranking=ranking, values=values or {},
                           roles=roles, rates=RATES, can_change=actor.is_admin, errors=errors or {}, error=error,
                           history=[*settings_admin.history(db.session, actor, "group_case"),
                                    *settings_admin.history(db.session, actor, "ranking")]), status


@bp.route("/settings", methods=["GET", "POST"])
@login_required
def settings_page():
    actor = current_actor()
    if request.method == "POST":
        what = request.form.get("what")
        if what == "group_case":
            raw = (request.form.get("people_involved_at_least") or "").strip()
            value = {"people_involved_at_least": int(raw) if raw.isdigit() else raw,
                     "director_role": request.form.get("director_role", ""),
                     "consultation_roles": request.form.getlist("consultation_roles")}
        else:
            what = "ranking"
            value = {"weights": {rate: (request.form.get(f"weight-{rate}") or "0").strip() for rate in RATES}}
        try:
            settings_admin.save_setting(db.session, actor, what, value, note=request.form.get("note"))
        except InvalidData as exc:
            db.session.rollback()
            return _render_settings(actor, {what: value}, localize_details(exc.details or {}), localize(exc.message),
                                    422)
        flash(gettext("Saved."), "ok")
        return redirect(url_for("admin.settings_page"))
    return _render_settings(actor)


# ---------------------------------------------------------------- a setting's value as the admin log shows it

_UNITS = {"days": "自然日", "workdays": "个工作日", "hours": "小时"}


def _step_text(rule: dict) -> str:
    when = "到期时" if rule["direction"] == "after" and not rule["amount"] else \
        f"到期{'前' if rule['direction'] == 'before' else '后'}{rule['amount']}{_UNITS.get(rule['unit'], rule['unit'])}"
    return f"{STEP_NAMES.get(rule['step'], rule['step'])}{when}" + ("（或期限过三分之二）" if rule.get("two_thirds") else "")


@bp.app_template_filter("setting_value")
def setting_value(value, key: str | None = None) -> str:
    """A setting's value in the admin log, as people read it (not its JSON)."""
    if not isinstance(value, dict):
        return "—" if value is None else str(value)
    titles = role_titles()
    if key == "ladder":
        parts = []
        for tier, body in (value.get("tiers") or {}).items():
            steps = "、".join(_step_text(r) for r in body.get("steps") or []) if body.get("enabled") else "不督办"
            parts.append(f"{labels.TIERS.get(tier, tier)}：{steps}")
        return "；".join(parts)
    if key == "lane_roles":
        return "、".join(f"{lane}→{labels.role_name(role, titles)}" for lane, role in value.items()) or "—"
    if key == "group_case":
        return (f"涉及{value.get('people_involved_at_least')}人以上；通知"
                f"{labels.role_name(value.get('director_role', ''), titles)}；会商："
                + "、".join(labels.role_name(r, titles) for r in value.get("consultation_roles") or []))
    if key == "ranking":
        return "、".join(f"{RATES.get(rate, rate)} {weight:g}" for rate, weight in (value.get("weights") or {}).items())
    if key == "org_units_disabled":
        return "、".join(value.get("codes") or []) or "—"
    return str(value)
