"""Registers the server-rendered web UI (blueprints, Babel, CSRF); the API lives in webui/api."""
from __future__ import annotations

import logging

from flask import Flask, redirect, request, session, url_for
from flask_babel import Babel, gettext
from flask_wtf.csrf import CSRFError, CSRFProtect

from engine.staff_text import staff_text
from webui import i18n, labels

log = logging.getLogger(__name__)

babel = Babel()
csrf = CSRFProtect()

# Pages are our own: scripts and styles from this origin only (bpmn-js sets inline styles on its SVG).
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                           "script-src 'self'; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                           "form-action 'self'; base-uri 'self'; object-src 'none'")


def register_ui(app: Flask) -> None:
    """Babel (zh_CN first), CSRF on every form (not on the bearer-token API), the UI blueprints."""
    i18n.warn_missing_catalogs()
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(i18n.TRANSLATIONS_DIR))
    babel.init_app(app, locale_selector=i18n.select_locale)
    csrf.init_app(app)
    csrf.exempt(app.blueprints["api"])

    from webui.admin.views import bp as admin_bp
    from webui.audit.views import bp as audit_bp
    from webui.auth_ui.views import bp as auth_bp
    from webui.cases.views import bp as cases_bp
    from webui.dashboard.views import bp as dashboard_bp
    from webui.ledger.views import bp as ledger_bp
    from webui.public.views import bp as public_bp
    from webui.tasks.views import bp as tasks_bp

    for blueprint in (auth_bp, tasks_bp, cases_bp, ledger_bp, dashboard_bp, admin_bp, audit_bp, public_bp):
        app.register_blueprint(blueprint)

    app.add_url_rule("/", "home", _home)
    app.add_url_rule("/lang/<code>", "set_language", _set_language)
    app.jinja_env.filters["local_dt"] = i18n.local_dt
    app.jinja_env.filters["staff_text"] = staff_text  # a basis stored before texts were cleaned at the source
    app.jinja_env.filters["localize"] = i18n.localize
    app.jinja_env.filters["incident_message"] = lambda i: i18n.localize(
        i18n.stored_message(i.message_id, i.message_params, i.message))
    # an incident_opened event's payload: the message by id where the event has one (from migration 0017 on)
    app.jinja_env.filters["event_message"] = lambda p: i18n.localize(
        i18n.stored_message(p.get("message_id"), p.get("params"), p.get("message") or ""))
    app.context_processor(_template_globals)
    app.after_request(_security_headers)

    @app.errorhandler(CSRFError)
    def handle_csrf(exc: CSRFError):
        from webui.errors import _render

        return _render(400, "csrf", gettext("The form expired or did not come from this site. "
                                            "Go back, reload the page and try again."), None, show_message=True)


def _home():
    if session.get("username"):
        return redirect(url_for("tasks.task_list"))
    return redirect(url_for("auth_ui.login"))


def _set_language(code: str):
    if code in i18n.LANGUAGES:
        session["lang"] = code
    return redirect(i18n.safe_next(request.args.get("next"), url_for("home")))


def _template_globals() -> dict:
    from webui.shell import person, shell_context

    from webui.task_forms import (applies, case_category, case_flags, display_value, entered_fields,
                                  labelled_changes, show_rule, today_iso)

    chinese = i18n.is_chinese()
    return {"LANGUAGES": i18n.LANGUAGES, "html_lang": i18n.html_lang(), "labels": labels,
            "display_value": display_value, "labelled_changes": labelled_changes, "show_rule": show_rule,
            "field_applies": applies, "today_iso": today_iso, "case_category": case_category, "case_flags": case_flags,
            "entered_fields": entered_fields,
            "colon": "：" if chinese else ": ", "person": person,
            **shell_context()}


def _security_headers(response):
    """nosniff on every response; no-store on the API (personal data, tokens), on case pages and whenever a user
    is logged in; the page-only headers (CSP, framing, referrer) everywhere but the API."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
        return response
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if "username" in session or request.blueprint == "cases" or request.endpoint in ("public.lookup", "public.rate"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response
