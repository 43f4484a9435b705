"""Issue 20 §5 for settings: a ladder policy, a lane map and a disabled org unit saved through one process are in
force in another process (its own app, runtime and connections: committed mode) from its next check — a request,
or the scheduler's tick — without a restart; the check costs one small SELECT when nothing changed."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from tests.conftest import make_runtime
from webui.settings_watch import KEY


@pytest.fixture
def other_process(committed_db, database_url, clock):
    """A second web process on the same database: another app with its own runtime and engine."""
    from webui import create_app
    from webui.extensions import db

    rt2 = make_runtime(clock)
    app2 = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "JIEFEN_RUNTIME": rt2,
                       "SECRET_KEY": "test", "JIEFEN_SCHEDULER_ENABLED": False, "JIEFEN_SETTINGS_CHECK_SECONDS": 0})
    yield app2, rt2
    with app2.app_context():
        db.session.remove()
        db.engine.dispose()


def test_settings_saved_in_one_process_are_served_by_the_other(committed_db, client, login, other_process, rt):
    app2, rt2 = other_process
    other = app2.test_client()
    other.get("/login")  # the other process has checked once already
    assert rt2.settings_version == 0 and rt2.current_ladder_policy().tier("major").steps[0].step == "prompt"

    admin = login("admin")
    policy = client.get("/api/v1/admin/ladder", headers=admin).get_json()["policy"]
    policy["tiers"]["major"]["steps"] = [
        {"step": "prompt", "direction": "before", "amount": 12, "unit": "hours", "two_thirds": False},
        {"step": "listing", "direction": "after", "amount": 1, "unit": "workdays", "two_thirds": False}]
    assert client.put("/api/v1/admin/ladder", json={"policy": policy}, headers=admin).status_code == 200
    lanes = {"窗口受理员": "intake_clerk", "调解员": "mediator", "驻点调解员": "mediator"}
    assert client.put("/api/v1/admin/settings/lane_roles", json={"value": lanes}, headers=admin).status_code == 200
    assert client.patch("/api/v1/admin/org-units/330106001001", json={"active": False},
                        headers=admin).status_code == 200
    assert rt.settings_version == 3  # the saving process serves them at once
    assert rt2.settings_version == 0  # the other one on its next check

    from webui.extensions import db
    with app2.app_context():
        statements = []
        listener = lambda *args: statements.append(args[2])
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            other.get("/login")  # any request
            changed = len(statements)
            statements.clear()
            other.get("/login")  # nothing changed since: one SELECT of the highest version
            assert sum("settings" in s for s in statements) == 1
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
    assert changed > 1
    assert rt2.settings_version == 3
    assert [s.step for s in rt2.current_ladder_policy().tier("major").steps] == ["prompt", "listing"]
    assert rt2.settings.lane_roles == lanes
    with app2.app_context():
        from engine.models import OrgUnitModel
        village = db.session.query(OrgUnitModel).filter_by(code="330106001001").one()
        assert village.id in rt2.disabled_units
        db.session.remove()

    # a scheduler process (no requests) serves them on its tick, before it fires timers
    from webui.extensions import RUNTIME_KEY
    from webui.settings_watch import tick
    rt3 = make_runtime(rt.clock)
    app2.extensions[KEY].check_every = 3600  # the tick forces the check
    app2.extensions[RUNTIME_KEY] = rt3
    with app2.app_context():
        tick(app2, db.session)
        db.session.remove()
    assert rt3.settings_version == 3 and rt3.settings.lane_roles == lanes


def test_two_administrators_saving_at_once_get_different_versions(committed_db, db_engine, rt, actor):
    """Each process serves the settings again when the highest version moved; two saves that shared a version
    number (each read the highest before the other committed) would leave a process serving the older value
    for good. The second save waits for the first's commit before it reads the highest version."""
    import threading
    import time

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from engine import admin_log, runtime, settings_store
    from engine.models import SettingModel, SettingVersionModel
    from engine.services import settings_admin

    admin = actor("admin")
    first = Session(db_engine, expire_on_commit=False, info={runtime.INFO_KEY: rt})
    admin_log.serialise(first)  # the first administrator's save has begun …
    settings_store.write(first, admin, "lane_roles", {"调解员": "mediator"}, None, rt.clock.now())
    first.flush()

    saved = {}

    def second_admin():
        with Session(db_engine, expire_on_commit=False, info={runtime.INFO_KEY: make_runtime(rt.clock)}) as s:
            saved["result"] = settings_admin.save_setting(s, admin, "ranking",
                                                          {"weights": {"responded_on_time_rate": 1}})

    thread = threading.Thread(target=second_admin)
    thread.start()
    time.sleep(0.5)  # the second save has read what it reads before writing, or waits to
    first.commit()  # … and commits after the second began
    first.close()
    thread.join(30)
    assert not thread.is_alive()
    with Session(db_engine) as s:
        versions = {row.key: row.version for row in s.scalars(select(SettingModel))}
        history = sorted(s.scalars(select(SettingVersionModel.version)))
    assert saved["result"].changed and saved["result"].version == versions["ranking"]
    assert versions["ranking"] != versions["lane_roles"], versions
    assert history == sorted(set(history))
