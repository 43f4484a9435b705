"""The `jiefen` console command for operators (honours DATABASE_URL / JIEFEN_DATABASE_URL)."""
from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import click

from engine.errors import CaseError
from webui.i18n import api_details, api_text, stored_message


def _app(serving: bool = False, **overrides):
    """The app for a command. Only `serve` and `scheduler` are `serving`: they refuse to start without a safe
    JIEFEN_SECRET_KEY (outside demo mode); one-off commands sign nothing and get a throw-away key."""
    from webui import SecretKeyMissing, create_app

    if not serving:
        overrides["JIEFEN_ONE_OFF_COMMAND"] = True
    try:
        return create_app(overrides)
    except SecretKeyMissing as exc:
        click.echo(f"错误 / error: {exc}", err=True)
        sys.exit(2)


def _warn_about_server(app) -> None:
    """Before a long-running service starts: database server settings that will hurt it, on stderr."""
    from engine.db import server_settings, server_warnings
    from webui.extensions import db

    with app.app_context():
        for line in server_warnings(server_settings(db.engine)):
            click.echo(f"警告 / warning: {line}", err=True)


def _fail(exc: CaseError):
    click.echo(f"错误 / error: {api_text(exc.message)}", err=True)
    if exc.details:
        if isinstance(exc.details, list):
            for item in exc.details:
                where = ", ".join(f"{k}={v}" for k, v in item.items() if k != "message" and v is not None)
                click.echo(f"  - {item.get('message')} ({where})", err=True)
        else:
            click.echo(f"  {json.dumps(api_details(exc.details), ensure_ascii=False)}", err=True)
    sys.exit(2)


def _database_url() -> str:
    """The database URL the commands use, its password masked."""
    from sqlalchemy.engine import make_url

    from config.settings import database_url_from_env

    try:
        return make_url(database_url_from_env()).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL: say so rather than echo it with its password
        return "(DATABASE_URL is not a valid database URL)"


def _database_failed(exc) -> None:
    """A database error an operator can act on, in one line (exit 2); anything else is a bug: re-raised."""
    from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

    text = (str(getattr(exc, "orig", exc)).strip().splitlines() or [""])[0]
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    if isinstance(exc, OperationalError | ProgrammingError) and (
            code in ("42P01", "42703") or "no such table" in text or "no such column" in text):
        click.echo(f"错误 / error: 数据库 {_database_url()} 尚未初始化或版本过旧，请先运行 `jiefen init-db` / the "
                   f"database has no jiefen schema (or an older one): run `jiefen init-db` first ({text})", err=True)
        sys.exit(2)
    if isinstance(exc, OperationalError) and exc.statement is None:  # failed while connecting
        click.echo(f"错误 / error: 无法连接数据库 / cannot reach the database {_database_url()} ({text}); check "
                   "DATABASE_URL and that the database server runs", err=True)
        sys.exit(2)
    if isinstance(exc, DBAPIError):
        raise exc


class _Commands(click.Group):
    """The command group: an operator's mistake (a domain error, a database without its schema or out of reach)
    ends with a one-line message saying what to do and exit status 2, never a traceback."""

    def invoke(self, ctx):
        from sqlalchemy.exc import DBAPIError

        try:
            return super().invoke(ctx)
        except CaseError as exc:
            _fail(exc)
        except DBAPIError as exc:
            _database_failed(exc)
            raise


@click.group(cls=_Commands)
def main():
    """解纷 jiefen — BPMN case engine for dispute-resolution centers."""


@main.command("init-db")
@click.option("--center-code", default="330106000", show_default=True, help="code of the top-level center")
@click.option("--center-name", default="西湖区综治中心", show_default=True)
@click.option("--area-code", default="330106", show_default=True, help="6-digit administrative area code")
@click.option("--center-kind", type=click.Choice(["county", "city"]), default="county", show_default=True,
              help="the top-level center's level: a county center, or a city (市级) center above the counties")
def init_db(center_code, center_name, area_code, center_kind):
    """Create or upgrade the schema (Alembic), the top-level center and the built-in roles."""
    from engine.db import upgrade_schema
    from engine.services import settings_admin, users
    from webui.extensions import db

    app = _app()
    with app.app_context():
        upgrade_schema(db.engine)
        try:
            org = users.init_directory(db.session, center_code, center_name, area_code, kind=center_kind)
            seeded = settings_admin.seed_settings(db.session)
        except CaseError as exc:
            _fail(exc)
        click.echo(f"database ready; top-level center {org.code} {org.name}")
        if seeded:
            click.echo(f"settings seeded from config/org.toml: {', '.join(seeded)}")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=True))
@click.option("--note", default=None, help="the change note recorded with each new version (变更说明)")
def deploy(files, note):
    """Deploy BPMN and DMN files (or folders of them) as new versions (a new process version becomes the active
    one; a new decision table version is embedded in new versions of the processes using it)."""
    from engine.services import processes
    from engine.services.users import SYSTEM
    from webui.extensions import db

    batch: dict[str, bytes] = {}
    for name in files:
        path = Path(name)
        batch.update(processes.read_directory(path) if path.is_dir() else {path.name: path.read_bytes()})
    app = _app()
    with app.app_context():
        try:
            results = processes.deploy(db.session, batch, SYSTEM, note)
        except CaseError as exc:
            _fail(exc)
        for r in results:
            what = f"{r.process_id} (decision table)" if r.kind == "decision" else r.process_id
            click.echo(f"{what}\tversion {r.version}\t{'deployed' if r.created else 'unchanged'}\t{r.sha256[:12]}")


@main.group()
def user():
    """Manage users."""


@user.command("add")
@click.argument("name")
@click.option("--password", required=True)
@click.option("--role", "roles", multiple=True, required=True)
@click.option("--org", "orgs", multiple=True, help="org unit code (default: the top-level center)")
@click.option("--display-name", default=None)
def user_add(name, password, roles, orgs, display_name):
    """Add a user holding each --role in each --org."""
    from engine.services import users
    from webui.extensions import db

    with _app().app_context():
        try:
            users.create_user(db.session, name, password, list(roles), list(orgs) or None, display_name)
        except CaseError as exc:
            _fail(exc)
        click.echo(f"user {name} added")


@user.command("disable")
@click.argument("name")
def user_disable(name):
    """Disable a user: no login, every session ends and every API token is revoked."""
    from engine.services import users
    from webui.extensions import db

    with _app().app_context():
        try:
            users.set_active(db.session, name, False)
        except CaseError as exc:
            _fail(exc)
        click.echo(f"user {name} disabled; sessions ended, tokens revoked")


@user.command("enable")
@click.argument("name")
def user_enable(name):
    """Enable a disabled user again (tokens revoked when disabling stay revoked)."""
    from engine.services import users
    from webui.extensions import db

    with _app().app_context():
        try:
            users.set_active(db.session, name, True)
        except CaseError as exc:
            _fail(exc)
        click.echo(f"user {name} enabled")


@user.command("passwd")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def user_passwd(name, password):
    """Set a user's password: every session ends and every API token is revoked."""
    from engine.services import users
    from webui.extensions import db

    with _app().app_context():
        try:
            users.set_password(db.session, name, password)
        except CaseError as exc:
            _fail(exc)
        click.echo(f"password of {name} changed; sessions ended, tokens revoked")


@main.command()
@click.argument("name", required=False)
@click.option("--list", "list_", is_flag=True, help="list NAME's tokens (id, status, created, expires) instead")
@click.option("--revoke", "revoke_id", type=int, default=None, help="revoke the token with this id")
def token(name, list_, revoke_id):
    """Print a new API bearer token for NAME (valid JIEFEN_TOKEN_DAYS days); --list NAME; --revoke ID."""
    from engine.services import users
    from webui.extensions import db

    if (revoke_id is None) == (name is None) or (list_ and name is None):
        click.echo("错误 / error: usage: jiefen token NAME | jiefen token --list NAME | jiefen token --revoke ID",
                   err=True)
        sys.exit(2)
    app = _app()
    with app.app_context():
        try:
            if revoke_id is not None:
                users.revoke_token(db.session, revoke_id)
                click.echo(f"token {revoke_id} revoked")
            elif list_:
                for row in users.list_tokens(db.session, name):
                    click.echo(f"{row.id}\t{users.token_status(row)}\t{row.created_at.isoformat()}\t"
                               f"{row.expires_at.isoformat()}")
            else:
                click.echo(users.issue_token(db.session, name, app.config["JIEFEN_TOKEN_DAYS"]))
        except CaseError as exc:
            _fail(exc)


@main.command()
def roles():
    """List roles, one a line, name first."""
    from engine.services import users
    from webui.extensions import db

    with _app().app_context():
        for role in users.list_roles(db.session):
            click.echo(f"{role.name}\t{role.title or ''}\t{'built-in' if role.builtin else ''}".rstrip())


@main.command()
def orgs():
    """List org units, one a line, code first."""
    from engine.services import users
    from webui.extensions import db

    with _app().app_context():
        for org in users.list_org_units(db.session):
            click.echo(f"{org.code}\t{org.name}\t{org.kind}\t{org.presence or ''}\t{org.phone or ''}".rstrip())


@main.command("org-phone")
@click.argument("code")
@click.argument("phone", required=False)
def org_phone(code, phone):
    """Set the contact phone of org unit CODE (the public look-up shows the handling unit's); none clears it."""
    from engine.services import users
    from webui.extensions import db

    with _app().app_context():
        org = users.set_org_unit_phone(db.session, code, phone)
        click.echo(f"{org.code}\t{org.name}\t{org.phone or ''}".rstrip())


@main.command()
@click.argument("case_id", type=int)
def verify(case_id):
    """Check a case's hash chain and replay it."""
    from engine.services import history
    from engine.services.users import SYSTEM
    from webui.extensions import db

    with _app().app_context():
        try:
            result = history.verify_case(db.session, case_id, SYSTEM)
        except CaseError as exc:
            _fail(exc)
        click.echo(json.dumps({"chain_ok": result.chain_ok, "replay_ok": result.replay_ok,
                               "files_ok": result.files_ok, "events": result.events, "problems": result.problems}, ensure_ascii=False))
        sys.exit(0 if result.chain_ok and result.replay_ok and result.files_ok else 1)


@main.group()
def calendar():
    """Legal calendar tools."""


@calendar.command("due")
@click.argument("start")
@click.option("--days", type=int, required=True)
@click.option("--unit", type=click.Choice(["natural", "working", "legal"]), required=True)
def calendar_due(start, days, unit):
    """Print the due moment (ISO 8601, +08:00) of a period starting at START."""
    from engine.calendar import due, provisional_note

    app = _app()
    calendar = app.extensions["jiefen.runtime"].calendar
    try:
        end = due(start, days, unit, calendar)
        click.echo(end)
        note = provisional_note(start, end, calendar)
    except CaseError as exc:
        _fail(exc)
    if note:
        click.echo(note, err=True)


@calendar.command("recompute")
@click.option("--year", type=int, required=True, help="the year whose calendar changed (notice entered)")
@click.option("--note", default=None, help="why, for the case histories (default: the year's notice)")
def calendar_recompute(year, note):
    """After entering a year's State Council notice in config/calendar.toml: recompute every open deadline that
    the change may move (timers, task due dates, the supervision ladder), one recorded command per case."""
    from engine.actors import SYSTEM
    from engine.services.deadlines import recompute_deadlines
    from webui.extensions import db

    app = _app()
    with app.app_context():
        try:
            changed = recompute_deadlines(db.session, year, SYSTEM, reason=note)
        except CaseError as exc:
            _fail(exc)
    moved = sum(len(c.moved) for c in changed)
    click.echo(f"{len([c for c in changed if c.moved])} case(s), {moved} deadline(s) moved")
    for case in changed:
        for m in case.moved:
            old = m.old.isoformat() if m.old else "held for confirmation / 待确认"
            click.echo(f"  {case.code}\t{m.element}\t{old} -> {m.new.isoformat()}")
        for element in case.unsure:
            click.echo(f"  {case.code}\t{element}\tnot recomputed: review by hand / 无法自动重算，请人工复核", err=True)


@main.group()
def stats():
    """The statistics' counters (docs/statistics.md)."""


@stats.command("rebuild")
def stats_rebuild():
    """Recount the statistics' daily counters from every case's history (after the upgrade that added them)."""
    from engine.actors import SYSTEM
    from engine.services.stats import rebuild_stats
    from webui.extensions import db

    app = _app()
    with app.app_context():
        try:
            seen = rebuild_stats(db.session, SYSTEM)
        except CaseError as exc:
            _fail(exc)
    click.echo(f"{seen} case(s) recounted / 已重新统计 {seen} 件案件")


@main.group()
def timers():
    """Durable timers."""


@timers.command("run-due")
@click.option("--now", "now_text", default=None, help="ISO 8601 moment to drain as of (default: now)")
def run_due(now_text):
    """Fire every timer due as of --now, oldest first (claims are leased on the real clock, whatever --now says)."""
    from engine import runtime
    from engine.services.timers import fire_due_timers
    from webui import settings_watch
    from webui.extensions import db
    from webui.scheduler import timer_policy

    app = _app()
    now = None
    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError:
            raise click.BadParameter(f"{now_text!r} is not an ISO 8601 moment; write e.g. 2026-03-02T09:00:00+08:00 "
                                     "or 2026-03-02 (China time when no offset is given)", param_hint="--now")
        if now.tzinfo is None:
            from engine.clock import CHINA_TZ
            now = now.replace(tzinfo=CHINA_TZ)
    with app.app_context():
        settings_watch.tick(app, db.session)  # the ladder policy and routing saved in the console
        result = fire_due_timers(db.session, now or runtime.of(db.session).clock.now(), app.config["JIEFEN_TIMER_BATCH"],
                                 policy=timer_policy(app.config))
        click.echo(f"fired {result.fired}, skipped {result.skipped}, failed {result.failed}, "
                   f"deferred {result.deferred}, incidents {result.incidents}")
        for line in result.errors:
            click.echo(f"  {line}", err=True)


@main.command()
def scheduler():
    """Run the timer scheduler (APScheduler wakes the drain loop) until stopped."""
    from webui.scheduler import run_scheduler_forever

    app = _app(serving=True)
    _warn_about_server(app)
    run_scheduler_forever(app)


def _operator(name: str | None):
    """The actor an incident command runs as: a named admin (`--by`), else the system account."""
    from engine.services.users import SYSTEM, load_actor
    from webui.extensions import db

    return load_actor(db.session, name) if name else SYSTEM


@main.group(invoke_without_command=True)
@click.option("--all", "include_resolved", is_flag=True, help="resolved incidents too")
@click.pass_context
def incidents(ctx, include_resolved):
    """Timers that kept failing: list them (default), `retry ID` or `resolve ID --note …`."""
    if ctx.invoked_subcommand is not None:
        return
    from engine.clock import CHINA_TZ
    from engine.services import incidents as service
    from engine.services.users import SYSTEM
    from webui.extensions import db

    with _app().app_context():
        rows = service.list_incidents(db.session, SYSTEM, include_resolved)
        for i in rows:
            state = f"{i.resolution} by {i.resolved_by}" if i.resolved_at else "open"
            click.echo("\t".join([str(i.id), f"case {i.case_id}", i.name, i.element_id or "-",
                                  i.created_at.astimezone(CHINA_TZ).isoformat(timespec="seconds"),
                                  f"attempts {i.attempts}", state,
                                  api_text(stored_message(i.message_id, i.message_params, i.message)).replace("\n", " ")]))
        if not rows:
            click.echo("no open incidents" if not include_resolved else "no incidents")


@incidents.command("retry")
@click.argument("incident_id", type=int)
@click.option("--note", default=None, help="why, for the case history")
@click.option("--by", "by", default=None, help="the admin's username recorded in the case history (default: system)")
def incidents_retry(incident_id, note, by):
    """Fire the incident's timer again now; the incident is resolved if it succeeds."""
    from engine.services import incidents as service
    from webui import settings_watch
    from webui.extensions import db

    app = _app()
    with app.app_context():
        settings_watch.tick(app, db.session)
        try:
            incident = service.retry_incident(db.session, incident_id, _operator(by), note)
        except CaseError as exc:
            _fail(exc)
        click.echo(f"incident {incident.id} retried: the timer fired; resolved")


@incidents.command("resolve")
@click.argument("incident_id", type=int)
@click.option("--note", required=True, help="how the incident was dealt with (recorded in the case history)")
@click.option("--by", "by", default=None, help="the admin's username recorded in the case history (default: system)")
def incidents_resolve(incident_id, note, by):
    """Close the incident without firing its timer."""
    from engine.services import incidents as service
    from webui.extensions import db

    with _app().app_context():
        try:
            incident = service.resolve_incident(db.session, incident_id, _operator(by), note)
        except CaseError as exc:
            _fail(exc)
        click.echo(f"incident {incident.id} resolved")


@main.command()
def demo():
    """Load the demo center, users and cases (idempotent)."""
    from engine.demo import load_demo
    from webui.extensions import db

    app = _app()
    if not app.config["JIEFEN_DEMO"]:
        click.echo("错误 / error: demo data has published passwords; run with JIEFEN_DEMO=1 (never in production)", err=True)
        sys.exit(2)
    with app.app_context():
        try:
            summary = load_demo(db.session, app.config["JIEFEN_PROCESSES_DIR"])
        except CaseError as exc:
            _fail(exc)
        click.echo(summary)


@main.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench(args):
    """Run the benchmark harness (bench/run.py; `jiefen bench --help` lists its options)."""
    from bench.run import main as bench_main

    sys.exit(bench_main(list(args)))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--debug", is_flag=True, help="Flask's development server with reloader (not for production)")
@click.option("--with-scheduler", is_flag=True, help="also run the timer scheduler in this process")
def serve(host, port, threads, debug, with_scheduler):
    """Serve the web UI and API (waitress, a production WSGI server, unless --debug)."""
    app = _app(serving=True, JIEFEN_SCHEDULER_ENABLED=with_scheduler)
    _warn_about_server(app)
    if debug:
        app.run(host=host, port=port, debug=True, use_reloader=False)
        return
    from waitress import serve as waitress_serve

    click.echo(f"jiefen on http://{host}:{port}/")
    waitress_serve(app, host=host, port=port, threads=threads)


if __name__ == "__main__":
    main()
