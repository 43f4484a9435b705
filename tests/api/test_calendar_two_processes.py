"""Issue 20 §5 for calendar years: a year saved through one process's API is served by another process (its own
runtime, its own connections: committed mode) from its next request and its scheduler tick, without a restart."""
from datetime import date

import pytest

from tests.conftest import make_runtime
from webui.calendar_file import NOTICES_KEY
from webui.scheduler import _calendar_tick

NOTICE = {"holidays": ["2027-01-01", "2027-01-14", "2027-01-15"], "workdays": ["2027-01-16"]}


@pytest.fixture
def other_process(committed_db, database_url, clock):
    """A second web process on the same database: another app with its own runtime."""
    from webui import create_app
    from webui.extensions import db

    rt2 = make_runtime(clock)
    app2 = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "JIEFEN_RUNTIME": rt2,
                       "SECRET_KEY": "test", "JIEFEN_SCHEDULER_ENABLED": False, "JIEFEN_CALENDAR_CHECK_SECONDS": 0})
    yield app2, rt2
    with app2.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_year_saved_in_one_process_is_served_by_the_other(committed_db, client, login, other_process, rt):
    app2, rt2 = other_process
    assert rt2.calendar.is_provisional(2027) and rt2.calendar.is_workday(date(2027, 1, 14))
    saved = client.put("/api/v1/admin/calendar/2027", json=NOTICE, headers=login("admin"))
    assert saved.status_code == 200, saved.get_json()
    assert not rt.calendar.is_provisional(2027)  # the saving process serves it at once
    assert rt2.calendar.is_provisional(2027)  # the other one on its next check

    app2.test_client().get("/login")  # any request
    assert not rt2.calendar.is_provisional(2027)
    assert not rt2.calendar.is_workday(date(2027, 1, 14)) and rt2.calendar.is_workday(date(2027, 1, 16))

    # a scheduler process (no requests) serves it on its tick
    rt3 = make_runtime(rt.clock)
    app2.extensions[NOTICES_KEY].check_every = 3600  # the tick forces the check
    from webui.extensions import db
    with app2.app_context():
        app2.config["JIEFEN_RUNTIME"] = rt3
        from webui.extensions import RUNTIME_KEY
        app2.extensions[RUNTIME_KEY] = rt3
        _calendar_tick(app2, db.session)
    assert not rt3.calendar.is_provisional(2027)
