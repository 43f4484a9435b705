"""Issue 20 §3: a year's State Council notice entered through the API (PUT /api/v1/admin/calendar/{year}):
validated, previewed (dry run: how many deadlines would move, nothing saved), saved (the pending 2027 deadlines
move, an event on the case, an admin-log entry old -> new), read back with each day's source; administrators
only change it, auditors read, everyone else 403. The notice is made up (2027's real one is not published):
14–15 January 2027 rest days, so the 复查 window ending Thursday 14 January moves to Monday 18."""
from sqlalchemy import select

from engine.models import AdminEventModel, CalendarNoticeModel
from tests.scenario.conftest import china, end_of
from tests.scenario.test_calendar_notice import MADE_UP_NOTICE
from tests.scenario.test_petition import accepted, replied
from tests.support import PASSWORD

URL = "/api/v1/admin/calendar/2027"


def _token(client, name: str) -> dict:
    response = client.post("/api/v1/auth/token", json={"username": name, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def _pending_2027(c) -> int:
    c.set_time(china("2026-12-15", 10))
    cid = accepted(c)
    replied(c, cid, "reject", "dissatisfied")
    assert c.task(cid, "pt_await_review")["due_at"] == end_of("2027-01-14")  # 2027 provisional
    return cid


def test_entering_2027s_notice_previews_then_moves_the_pending_deadline(center, client, session):
    c = center
    cid = _pending_2027(c)
    admin = _token(client, "admin")
    before = client.get(URL, headers=admin).get_json()
    assert before["provisional"] is True and before["saved_by"] is None
    assert {"date": "2027-01-01", "source": "computed"} in before["holidays"]

    preview = client.put(URL, query_string={"dry_run": 1}, json=MADE_UP_NOTICE, headers=admin)
    assert preview.status_code == 200, preview.get_json()
    assert preview.get_json() == {"year": 2027, "dry_run": True, "moved": 2, "cases": 1, "unsure": 0}
    assert session.get(CalendarNoticeModel, 2027) is None  # nothing saved, nothing moved
    c.case(cid)  # read again
    assert c.task(cid, "pt_await_review")["due_at"] == end_of("2027-01-14")
    events_before = len(c.events(cid))
    log_before = session.scalar(select(AdminEventModel.seq).order_by(AdminEventModel.seq.desc()).limit(1)) or 0

    saved = client.put(URL, json=MADE_UP_NOTICE, headers=admin)
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["moved"] == 2 and saved.get_json()["dry_run"] is False
    c.case(cid)
    assert c.task(cid, "pt_await_review")["due_at"] == end_of("2027-01-18")
    assert c.timers(cid)["复查申请期届满"] == end_of("2027-01-25")
    [event] = c.events(cid)[events_before:]
    assert event["type"] == "deadlines_recomputed" and event["actor"] == "admin"
    assert {(m["old"][:10], m["new"][:10]) for m in event["payload"]["command"]["moved"]} == {
        ("2027-01-21", "2027-01-25"), ("2027-01-14", "2027-01-18")}
    [entry] = session.scalars(select(AdminEventModel).where(AdminEventModel.seq > log_before)).all()
    assert (entry.actor, entry.action, entry.target, entry.old) == ("admin", "calendar_year_saved", "2027", None)
    assert entry.new["holidays"] == sorted(MADE_UP_NOTICE["holidays"]) and entry.new["provisional"] is False

    after = client.get(URL, headers=_token(client, "auditor")).get_json()  # auditors read
    assert after["provisional"] is False and after["saved_by"] == "admin"
    assert {"date": "2027-01-14", "source": "notice"} in after["holidays"]

    # saved again, the same: nothing moves, the log has old -> new
    again = client.put(URL, json={**MADE_UP_NOTICE, "closures": ["2027-03-03"]}, headers=admin).get_json()
    assert again["moved"] == 0
    last = session.scalars(select(AdminEventModel).order_by(AdminEventModel.seq.desc()).limit(1)).one()
    assert last.old["closures"] == [] and last.new["closures"] == ["2027-03-03"]
    closures = client.get(URL, headers=admin).get_json()["closures"]
    assert closures == [{"date": "2027-03-03", "source": "notice"}]
    # closures left out of a later PUT stay; an empty list removes them
    assert client.put(URL, json=MADE_UP_NOTICE, headers=admin).status_code == 200
    assert client.get(URL, headers=admin).get_json()["closures"] == [{"date": "2027-03-03", "source": "notice"}]
    assert client.put(URL, json={**MADE_UP_NOTICE, "closures": []}, headers=admin).status_code == 200
    assert client.get(URL, headers=admin).get_json()["closures"] == []


def test_a_bad_notice_is_a_422_naming_the_field_and_the_date(center, client, session):
    admin = _token(client, "admin")

    def put(body):
        response = client.put(URL, json=body, headers=admin)
        assert response.status_code == 422, response.get_json()
        return response.get_json()

    wrong_year = put({"holidays": ["2027-01-01", "2026-10-01"], "workdays": []})
    assert "2026-10-01" in str(wrong_year["details"]["holidays"])
    bad = put({"holidays": ["2027-01-01"], "workdays": ["2027-02-30"]})
    assert "2027-02-30" in str(bad["details"]["workdays"])
    both = put({"holidays": ["2027-01-01", "2027-02-06"], "workdays": ["2027-02-06"]})
    assert "2027-02-06" in str(both["details"]["workdays"])
    assert "holidays" in put({"holidays": [], "workdays": []})["details"]
    assert "closures" in put({"holidays": ["2027-01-01"], "workdays": [], "closures": ["2028-01-03"]})["details"]
    assert session.get(CalendarNoticeModel, 2027) is None


def test_only_administrators_change_the_calendar_and_auditors_read_it(center, client, session):
    for name in ("mediator", "auditor"):
        response = client.put(URL, json=MADE_UP_NOTICE, headers=_token(client, name))
        assert response.status_code == 403, (name, response.get_json())
    assert client.get(URL, headers=_token(client, "mediator")).status_code == 403
    assert client.get(URL, headers=_token(client, "auditor")).status_code == 200
    assert client.put(URL, json=MADE_UP_NOTICE).status_code == 401
    assert session.get(CalendarNoticeModel, 2027) is None


def test_a_year_saved_by_another_process_is_served_without_a_restart(center, app, client, session, rt):
    """Another process (here: a row written behind this one's back) saves 2027: this process serves it from
    its next check (JIEFEN_CALENDAR_CHECK_SECONDS)."""
    from webui.calendar_file import NOTICES_KEY

    app.extensions[NOTICES_KEY].check_every = 0
    assert rt.calendar.is_provisional(2027)
    session.add(CalendarNoticeModel(year=2027, holidays=MADE_UP_NOTICE["holidays"], workdays=[], closures=[],
                                    provisional=False, version=7, saved_by="admin", saved_at=china("2026-12-01")))
    session.commit()
    client.get("/login")  # any request
    assert not rt.calendar.is_provisional(2027) and rt.calendar_version == 7
    assert not rt.calendar.is_workday(china("2027-01-14").date())
