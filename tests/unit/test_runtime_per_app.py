"""Each app, each session, its own runtime: no module-global runtime for two apps in one process to share."""
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy.orm import Session, sessionmaker

from engine import runtime
from engine.clock import CHINA_TZ, Clock
from engine.services import cases
from engine.services.users import load_actor

MOMENT_A = datetime(2026, 3, 2, 9, 0, tzinfo=CHINA_TZ)
MOMENT_B = datetime(2026, 5, 11, 14, 30, tzinfo=CHINA_TZ)


def _runtime(moment: datetime, ladder: bool) -> runtime.Runtime:
    settings = runtime.EngineSettings()
    settings.password_method = "pbkdf2:sha256:1000"
    settings.ladder_enabled = ladder
    return runtime.Runtime(settings, Clock(fixed=moment))


def _utc(moment: datetime) -> datetime:
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def test_a_session_without_a_runtime_says_how_to_bind_one():
    with pytest.raises(RuntimeError, match=r"runtime\.bind|info=\{'jiefen\.runtime'"):
        runtime.of(Session())


def test_bind_puts_the_runtime_on_a_session_and_on_every_session_a_sessionmaker_makes():
    rt = _runtime(MOMENT_A, True)
    assert runtime.of(runtime.bind(Session(), rt)) is rt
    factory = runtime.bind(sessionmaker(expire_on_commit=False), rt)
    assert runtime.of(factory()) is rt and runtime.of(factory()) is rt
    with pytest.raises(TypeError):
        runtime.bind(object(), rt)


def test_two_runtimes_install_the_spiff_patches_once():
    import SpiffWorkflow.bpmn.specs.event_definitions.timer as timer_module
    from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import CallActivity

    from engine import clock, spiff_fixes

    _runtime(MOMENT_A, True), _runtime(MOMENT_B, False)
    assert timer_module.datetime is clock._EngineDatetime
    assert CallActivity.update_data is spiff_fixes._update_data
    clock.install_spiff_clock(), spiff_fixes.install()  # no-ops
    assert timer_module.datetime is clock._EngineDatetime


def test_two_sessions_bound_to_two_runtimes_open_cases_on_their_own_clocks(db_engine, session, directory):
    rt_a, rt_b = _runtime(MOMENT_A, True), _runtime(MOMENT_B, False)
    with Session(db_engine, expire_on_commit=False, info={runtime.INFO_KEY: rt_a}) as a, \
            Session(db_engine, expire_on_commit=False, info={runtime.INFO_KEY: rt_b}) as b:
        case_a = cases.start_case(a, "small_mediation", {}, load_actor(a, "clerk"))
        case_b = cases.start_case(b, "small_mediation", {}, load_actor(b, "clerk"))
        rt_a.clock.advance(hours=1)
        case_a2 = cases.start_case(a, "small_mediation", {}, load_actor(a, "clerk"))
    assert _utc(case_a.opened_at) == MOMENT_A
    assert _utc(case_b.opened_at) == MOMENT_B
    assert _utc(case_a2.opened_at) == MOMENT_A + timedelta(hours=1)


def test_two_apps_in_one_process_each_see_their_own_runtime(db_engine, database_url, session, directory):
    from flask import jsonify

    from webui import create_app
    from webui.extensions import current_runtime, db

    rt_a, rt_b = _runtime(MOMENT_A, True), _runtime(MOMENT_B, False)
    apps = []
    for rt in (rt_a, rt_b):
        app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "JIEFEN_RUNTIME": rt,
                          "SECRET_KEY": "test", "JIEFEN_SCHEDULER_ENABLED": False})

        @app.get("/_runtime")
        def _probe():
            return jsonify(now=current_runtime().clock.now().isoformat(),
                           session_now=runtime.of(db.session).clock.now().isoformat(),
                           ladder=runtime.of(db.session).settings.ladder_enabled)

        apps.append(app)
    app_a, app_b = apps
    try:
        # created one after the other, used interleaved: neither sees the runtime of the app made last
        for app, rt, moment, ladder in ((app_a, rt_a, MOMENT_A, True), (app_b, rt_b, MOMENT_B, False),
                                        (app_a, rt_a, MOMENT_A, True)):
            body = app.test_client().get("/_runtime").get_json()
            assert body == {"now": moment.astimezone(timezone.utc).isoformat(),
                            "session_now": moment.astimezone(timezone.utc).isoformat(), "ladder": ladder}
            with app.app_context():
                assert app.extensions["jiefen.runtime"] is rt and runtime.of(db.session) is rt
                case = cases.start_case(db.session, "small_mediation", {}, load_actor(db.session, "clerk"))
                assert _utc(case.opened_at) == moment
                db.session.remove()
    finally:
        for app in apps:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
