"""config/calendar.toml edited while the server runs (issue 17 §3): the web serves it from the next request and
the scheduler's tick stores / recomputes the years whose data changed (webui/calendar_file.py)."""
import os
from datetime import date

from engine.calendar import DEFAULT_CALENDAR_PATH
from engine.models import CalendarYearModel
from webui.calendar_file import KEY, watch
from webui.scheduler import _calendar_tick

DATE_14 = date(2027, 1, 14)


def test_an_edited_calendar_file_is_served_by_the_next_request_and_ticked_by_the_scheduler(app, client, rt,
                                                                                          tmp_path):
    from webui.extensions import db

    shipped = DEFAULT_CALENDAR_PATH.read_text(encoding="utf-8")
    path = tmp_path / "calendar.toml"
    path.write_text(shipped, encoding="utf-8")
    app.config.update(JIEFEN_CALENDAR_FILE=str(path), JIEFEN_CALENDAR_CHECK_SECONDS=0)
    watch(app, rt)
    assert rt.calendar.is_provisional(2027)
    with app.app_context():
        _calendar_tick(app, db.session)  # the scheduler starts: every watched year stored as it is
        stored = db.session.get(CalendarYearModel, 2027).fingerprint
        assert stored == rt.calendar.fingerprint(2027)

    path.write_text(shipped.replace("[years.2027]\nprovisional = true\n",
                                    '[years.2027]\nholidays = ["2027-01-14"]\nworkdays = []\n'), encoding="utf-8")
    saved = 1_780_000_000 * 1_000_000_000  # saved a while ago: settled
    os.utime(path, ns=(saved, saved))
    client.get("/login")  # any request
    assert not rt.calendar.is_provisional(2027) and not rt.calendar.is_workday(DATE_14)  # served at once
    with app.app_context():
        _calendar_tick(app, db.session)
        row = db.session.get(CalendarYearModel, 2027)
        assert row.fingerprint == rt.calendar.fingerprint(2027) != stored and row.recomputed_at is not None
    assert app.extensions[KEY].settled()
