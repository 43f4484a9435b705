"""Scenario fixtures: a whole center (county → township → village, resident departments), the three shipped
processes, one user per role, and a helper that drives cases through the REST API as those users.

Time is the fixed `clock` of tests/conftest.py (Monday 2026-03-02 09:00 China time); `drain` moves it and
fires every timer due by then, as the scheduler would.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from engine.clock import CHINA_TZ
from engine.demo import CITY, COUNTY, TOWNSHIPS, VILLAGES, _ensure_directory
from engine.services import processes, users
from engine.services.timers import fire_due_timers
from engine.services.users import SYSTEM
from tests.conftest import ROOT, SEEDS
from tests.support import PASSWORD

CITY_CODE = CITY[0]  # 330100000 杭州市综治中心 (the top)
COUNTY_CODE = COUNTY[0]  # 330106000 西湖区综治中心
TOWNSHIP_CODE = TOWNSHIPS[0][0]  # 330106001 北山街道综治中心
VILLAGE_CODE = VILLAGES[0][0]  # 330106001001 曙光社区调解室 (under the township above)

# username -> (roles, org unit codes; None = the county center)
CENTER_USERS = {
    # county center
    "clerk": (["intake_clerk"], None),
    "screener": (["screener"], None),
    "mediator": (["mediator"], None),
    "grassroots": (["grassroots_mediator"], None),
    "court": (["dept_court"], None),
    "procurator": (["dept_procuratorate"], None),
    "police": (["dept_police"], None),
    "justice": (["dept_justice"], None),
    "labour": (["dept_hrss"], None),
    "union": (["dept_union"], None),
    "civil": (["dept_civil_affairs"], None),
    "housing": (["dept_housing"], None),
    "taskforce": (["task_force"], None),
    "supervisor": (["supervisor"], None),
    "director": (["director"], None),
    "revisit": (["revisit_staff"], None),
    "petition": (["petition_office"], None),
    "competent": (["competent_body"], None),
    "review": (["review_body"], None),
    "court_clerk": (["court_clerk"], None),
    "judge": (["judge"], None),
    "enforcement": (["enforcement"], None),
    "unit_head": (["unit_head"], None),
    "competent_head": (["competent_body_head"], None),
    "admin": (["admin"], None),
    "auditor": (["auditor"], None),
    # township center (main handling; receives cases reported up from its villages)
    "t_clerk": (["intake_clerk"], [TOWNSHIP_CODE]),
    "t_screener": (["screener"], [TOWNSHIP_CODE]),
    "t_director": (["director"], [TOWNSHIP_CODE]),
    "t_mediator": (["mediator"], [TOWNSHIP_CODE]),
    "t_petition": (["petition_office"], [TOWNSHIP_CODE]),
    "t_competent": (["competent_body"], [TOWNSHIP_CODE]),
    "t_competent_head": (["competent_body_head"], [TOWNSHIP_CODE]),
    "t_review": (["review_body"], [TOWNSHIP_CODE]),
    "t_revisit": (["revisit_staff"], [TOWNSHIP_CODE]),
    # village outpost (registration, screening, simple mediation, reporting up)
    "v_clerk": (["intake_clerk"], [VILLAGE_CODE]),
    "v_screener": (["screener"], [VILLAGE_CODE]),
    "v_director": (["director"], [VILLAGE_CODE]),
    "v_mediator": (["grassroots_mediator"], [VILLAGE_CODE]),
    # city center (receives cases reported up from its counties)
    "c_screener": (["screener"], [CITY_CODE]),
    "c_director": (["director"], [CITY_CODE]),
    "c_review": (["review_body"], [CITY_CODE]),
}


def china(day: date | str, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    """A moment on a calendar day in China time."""
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=CHINA_TZ)


def end_of(day: date | str) -> str:
    """How the API writes the end (24:00) of a calendar day: 23:59:59+08:00."""
    return f"{day if isinstance(day, str) else day.isoformat()}T23:59:59+08:00"


class Center:
    """Drives cases through the API as the center's users, on the fixed clock."""

    def __init__(self, client, session, clock):
        self.client = client
        self.session = session
        self.clock = clock
        self._tokens: dict[str, dict] = {}
        self.done: dict[int, list[tuple[str, str]]] = {}  # case id -> [(actor, task title)] completed via API
        self._seen: dict[int, dict] = {}  # case id -> the case as the last command on it returned it

    # -- time
    def today(self) -> date:
        return self.clock.now().astimezone(CHINA_TZ).date()

    def day(self, n: int = 0) -> str:
        """The ISO date n days from today (form date fields)."""
        return (self.today() + timedelta(days=n)).isoformat()

    def set_time(self, moment: datetime) -> None:
        self.clock.set(moment)

    def drain(self, moment: datetime):
        """Move the clock to `moment` and fire everything due by then (as the scheduler would)."""
        self.clock.set(moment)
        self._seen.clear()
        self.session.expire_all()
        result = fire_due_timers(self.session, moment)
        assert result.failed == 0, result.errors
        return result

    # -- http
    def login(self, user: str) -> dict:
        if user not in self._tokens:
            response = self.client.post("/api/v1/auth/token", json={"username": user, "password": PASSWORD})
            assert response.status_code == 200, response.get_json()
            self._tokens[user] = {"Authorization": f"Bearer {response.get_json()['token']}"}
        return self._tokens[user]

    def get(self, url: str, user: str = "auditor", status: int = 200):
        response = self.client.get(url, headers=self.login(user))
        assert response.status_code == status, (url, user, response.get_json())
        return response.get_json()

    def post(self, url: str, user: str, body=None):
        return self.client.post(url, json=body if body is not None else {}, headers=self.login(user))

    # -- cases
    def open(self, process_id: str, user: str, data: dict | None = None, org_unit: str | None = None) -> dict:
        body = {"process_id": process_id, "data": data or {}}
        if org_unit:
            body["org_unit"] = org_unit
        response = self.post("/api/v1/cases", user, body)
        assert response.status_code == 201, response.get_json()
        case = response.get_json()
        self.done[case["id"]] = []
        self._seen[case["id"]] = case
        return case

    def case(self, case_id: int, user: str = "auditor") -> dict:
        body = self.get(f"/api/v1/cases/{case_id}", user)
        self._seen[case_id] = body
        return body

    def ready(self, case_id: int) -> list[str]:
        """Spec names of the case's open BPMN tasks, sorted."""
        return sorted(t["name"] for t in self.case(case_id)["tasks"] if t["kind"] == "bpmn")

    def timers(self, case_id: int) -> dict[str, str]:
        """Pending BPMN timers of the case: name -> due_at (+08:00)."""
        return {t["name"]: t["due_at"] for t in self.case(case_id)["timers"] if t["kind"] == "bpmn"}

    def task(self, case_id: int, name: str) -> dict:
        """The one open BPMN task of the case with this spec name."""
        case = self._seen.get(case_id) or self.case(case_id)
        found = [t for t in case["tasks"] if t["kind"] == "bpmn" and t["name"] == name]
        assert len(found) == 1, f"{name} is not open (once); open: {self.ready(case_id)}"
        return found[0]

    def task_names(self, user: str) -> list[tuple[int, str]]:
        """(case id, spec name) of every task in the user's list."""
        body = self.get("/api/v1/tasks?per_page=200", user)
        return [(t["case_id"], t["name"]) for t in body["items"]]

    def listed(self, case_id: int, name: str, user: str) -> bool:
        return (case_id, name) in self.task_names(user)

    def forbidden(self, case_id: int, name: str, *others: str, data: dict | None = None) -> None:
        """Users of other roles (or of another center) may neither claim nor complete the task."""
        task = self.task(case_id, name)
        for user in others:
            claim = self.post(f"/api/v1/tasks/{task['id']}/claim", user)
            # a task assigned as it opened (首问负责) is refused as held by its officer to those who read the case
            refused = (403, 409) if task["assignee"] else (403,)
            assert claim.status_code in refused, (name, user, claim.status_code, claim.get_json())
            done = self.post(f"/api/v1/tasks/{task['id']}/complete", user, {"data": data or {}})
            assert done.status_code == 403, (name, user, done.status_code, done.get_json())
            assert not self.listed(case_id, name, user), (name, user)

    def complete(self, case_id: int, name: str, user: str, data: dict, forbidden: tuple[str, ...] = ()) -> dict:
        """Find the open task by spec name, claim it and complete it as `user` through the API."""
        if forbidden:
            self.forbidden(case_id, name, *forbidden, data=data)
        task = self.task(case_id, name)
        claim = self.post(f"/api/v1/tasks/{task['id']}/claim", user)
        assert claim.status_code == 200, (name, user, claim.get_json())
        response = self.post(f"/api/v1/tasks/{task['id']}/complete", user, {"data": data})
        assert response.status_code == 200, (name, user, response.get_json())
        self.done.setdefault(case_id, []).append((user, task["title"]))
        case = response.get_json()
        self._seen[case_id] = case
        return case

    def events(self, case_id: int) -> list[dict]:
        return self.get(f"/api/v1/cases/{case_id}/events")["items"]

    def assert_closed(self, case_id: int, outcome: str) -> dict:
        case = self.case(case_id)
        assert case["status"] == "closed" and case["outcome"] == outcome, (case["status"], case["outcome"],
                                                                           self.ready(case_id))
        assert case["tasks"] == [] and case["timers"] == []
        assert case["closed_at"].endswith("+08:00")
        return case

    def assert_record(self, case_id: int) -> list[dict]:
        """The history reads like a paper record, and the chain and the replay hold."""
        events = self.events(case_id)
        assert events[0]["type"] == "case_started"
        for event in events:
            assert event["at"].endswith("+08:00") and event["actor"], event
        moments = [datetime.fromisoformat(e["at"]) for e in events]
        assert moments == sorted(moments), "the record is in time order"
        # who did what: every task completed through the API is on record with its actor and task name
        completed = [(e["actor"], e["task"]) for e in events if e["type"] == "task_completed"]
        assert completed == self.done[case_id], (completed, self.done[case_id])
        # every opened task states its deadline and the basis of that deadline
        opened = [e for e in events if e["type"] == "task_opened"]
        assert opened
        for event in opened:
            assert event["task"] and event["payload"]["roles"], event
            assert event["payload"]["due_at"], event
            assert event["payload"]["basis"] and len(event["payload"]["basis"]) > 10, event
        # every claim is by the one who then completed the task
        claims = [(e["actor"], e["task"]) for e in events if e["type"] == "task_claimed"]
        assert [c for c in claims if c in self.done[case_id]] == claims
        verified = self.get(f"/api/v1/cases/{case_id}/verify")
        assert verified["chain_ok"] and verified["replay_ok"], verified["problems"]
        assert verified["events"] == len(events)
        return events


def _build_center(session) -> None:
    """The demo org units, processes/ deployed, and the users of CENTER_USERS (password tests.support.PASSWORD)."""
    _ensure_directory(session)
    processes.deploy(session, processes.read_directory(ROOT / "processes"), SYSTEM)
    for username, (roles, orgs) in CENTER_USERS.items():
        users.create_user(session, username, PASSWORD, roles, orgs or [COUNTY_CODE])


SEEDS["center"] = _build_center


@pytest.fixture
def center(session, client, clock, rt, seeded) -> Center:
    """The demo org units, processes/ deployed, and the users of CENTER_USERS (_build_center: committed once and
    shared by savepoint tests)."""
    if seeded != "center":
        _build_center(session)
    # A scenario runs months on the fixed clock with one login per user: tokens that outlast it.
    client.application.config["JIEFEN_TOKEN_DAYS"] = 3650
    return Center(client, session, clock)
