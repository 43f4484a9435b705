"""The engine's runtime: settings, clock, calendar, sandbox and the parsed-spec cache.

No module-global runtime: each one travels with the SQLAlchemy sessions bound to it (``bind``: the session's or
the sessionmaker's ``info``), and the engine reads it from the session it was handed (``of``). Code with no
session is handed the runtime by its caller. Two apps (or two tests) in one process each see their own.
"""
from __future__ import annotations

import copy
import logging
import threading
import tomllib
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from engine import ladder_policy, scripting, spiff_fixes
from engine.calendar import LegalCalendar, bpmn_helpers, layered
from engine.case_data import DataLimits
from engine.clock import Clock, install_spiff_clock

log = logging.getLogger(__name__)


@dataclass
class EngineSettings:
    """Everything the engine needs from configuration; built by the caller, never from the environment."""

    lane_roles: dict[str, str] = field(default_factory=dict)
    calendar_overrides: dict | None = None
    default_area_code: str = "000000"
    task_tree_warning: int = 2000
    # werkzeug password hash method; tests use a cheap one, production keeps scrypt.
    password_method: str = "scrypt"
    # Demo mode: the published demo password works only then.
    demo_mode: bool = False
    ladder_enabled: bool = True
    ladder_reminder_days_before: int = 3
    ladder_notice_days_after: int = 1
    ladder_listing_workdays_after: int = 5
    tier_ladder: dict[str, bool] = field(default_factory=dict)  # tier -> ladder on/off (default on)
    # Who gets the ladder's follow-up tasks (engine/ladder.py): the 督办单 at the unit holding the late task,
    # the 挂牌督办 at the supervising center one level up.
    ladder_notice_role: str = "unit_head"
    ladder_listing_role: str = "supervisor"
    # Who confirms a party's window closing while its year is provisional (engine/expiry.py)
    expiry_confirm_role: str = "supervisor"
    # Per kind of the unit holding the late task (county / township / village / department): its own
    # notice_role and listing_role ([ladder.roles.<kind>]); a kind not named uses the two above.
    ladder_roles: dict[str, dict[str, str]] = field(default_factory=dict)
    # 群体性 / 高风险 cases (engine/group_cases.py; config/org.toml [group_case])
    group_people_at_least: int = 10
    group_director_role: str = "director"
    group_consultation_roles: tuple[str, ...] = ("dept_police", "dept_justice", "dept_hrss", "dept_civil_affairs",
                                                 "dept_housing", "dept_court")
    data_limits: DataLimits = field(default_factory=DataLimits)  # bounds on start and task data (case_data.py)
    # 1把尺子: the dashboard ranks units by a weighted score of these rates (config/org.toml [ranking] weights;
    # docs/statistics.md). Relative weights: the score divides by their sum.
    ranking_weights: dict[str, float] = field(default_factory=lambda: dict(RANKING_WEIGHTS))

    # Processes whose cases only their own roles, the case's supervisors and auditors read (信访: engine/access.py).
    confidential_processes: frozenset[str] = frozenset({"petition_revisit"})
    # What one BPMN script or expression may use (engine/scripting/limits.py, "Limits").
    script_cpu_seconds: float = 1.0
    script_memory_mb: int = 64
    script_output_kb: int = 1024

    # Attachments (engine/services/attachments.py): the local file store's directory; a file's size and a case's
    # number of files at most.
    files_dir: str = "instance/files"
    # The file store: "local" (files_dir) or "s3" (an S3-compatible bucket through boto3: engine/file_store.py);
    # credentials left None: boto3's own chain (an instance role, ~/.aws).
    files_store: str = "local"
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: str | None = None
    attachment_max_bytes: int = 20 * 1024 * 1024
    attachments_per_case: int = 50
    # Documents (engine/documents.py): the folder of their Jinja2 templates, one file per kind (None: the
    # templates shipped in config/documents/).
    documents_dir: str | None = None

    @classmethod
    def from_files(cls, org_file: str | None, calendar_file: str | None) -> EngineSettings:
        settings = cls()
        if calendar_file and Path(calendar_file).exists():
            with open(calendar_file, "rb") as fh:
                settings.calendar_overrides = tomllib.load(fh)
        if org_file and Path(org_file).exists():
            with open(org_file, "rb") as fh:
                org = tomllib.load(fh)
            settings.lane_roles = dict(org.get("lane_roles", {}))
            settings.default_area_code = str(org.get("default_area_code", settings.default_area_code))
            ladder = org.get("ladder", {})
            settings.ladder_enabled = bool(ladder.get("enabled", True))
            settings.ladder_reminder_days_before = int(ladder.get("prompt_days_before", 3))
            settings.ladder_notice_days_after = int(ladder.get("notice_days_after", 1))
            settings.ladder_listing_workdays_after = int(ladder.get("listing_workdays_after", 5))
            settings.tier_ladder = {str(k): bool(v) for k, v in ladder.get("tiers", {}).items()}
            settings.ladder_notice_role = _role_name(ladder, "notice_role", "ladder", settings.ladder_notice_role)
            settings.ladder_listing_role = _role_name(ladder, "listing_role", "ladder", settings.ladder_listing_role)
            settings.ladder_roles = _ladder_roles(ladder.get("roles", {}), settings)
            _group_case(org.get("group_case", {}), settings)
            settings.ranking_weights = _ranking(org.get("ranking", {}))
            settings.expiry_confirm_role = _role_name(org.get("expiry", {}), "confirm_role", "expiry",
                                                      settings.expiry_confirm_role)
            if "confidential_processes" in org:
                settings.confidential_processes = frozenset(str(p) for p in org["confidential_processes"])
        return settings


UNIT_KINDS = ("city", "county", "township", "village", "department")  # models.OrgUnitModel.kind
# The rates a ranking may weigh (statistics figures), and the weights when config says nothing.
RANKING_WEIGHTS = {"responded_on_time_rate": 30.0, "closed_on_time_rate": 40.0, "satisfaction_rate": 30.0}
RANKING_RATES = ("responded_on_time_rate", "closed_on_time_rate", "satisfaction_rate", "closed_rate",
                 "resolved_rate")


def _ranking(table) -> dict[str, float]:
    """[ranking] weights = { rate = weight, … }: which statistics rates the 1把尺子 ranking weighs, and how much.
    Raises ValueError naming the key that is wrong."""
    if not isinstance(table, dict):
        raise ValueError("config/org.toml [ranking]: a table is needed")
    unknown = sorted(set(table) - {"weights"})
    if unknown:
        raise ValueError(f"config/org.toml [ranking] {unknown[0]}: unknown key (only weights)")
    weights = table.get("weights", RANKING_WEIGHTS)
    if not isinstance(weights, dict) or not weights:
        raise ValueError("config/org.toml [ranking] weights: a table of rate = weight is needed")
    out: dict[str, float] = {}
    for rate, weight in weights.items():
        if rate not in RANKING_RATES:
            raise ValueError(f"config/org.toml [ranking] weights.{rate}: not a rate the ranking can weigh (one of "
                             f"{', '.join(RANKING_RATES)})")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(f"config/org.toml [ranking] weights.{rate}: a number of at least 0 is needed, "
                             f"not {weight!r}")
        out[rate] = float(weight)
    if not sum(out.values()):
        raise ValueError("config/org.toml [ranking] weights: at least one weight must be above 0")
    return out
_LADDER_ROLE_KEYS = ("notice_role", "listing_role")


def _role_name(table: dict, key: str, where: str, default: str) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"config/org.toml [{where}] {key}: a role name (text) is needed, not {value!r}")
    return value.strip()


def _ladder_roles(table, settings: EngineSettings) -> dict[str, dict[str, str]]:
    """[ladder.roles.<unit kind>]: who gets the ladder's follow-up tasks when a unit of that kind holds the late
    task. Raises ValueError naming the key that is wrong."""
    if not isinstance(table, dict):
        raise ValueError("config/org.toml [ladder.roles]: a table of unit kinds is needed")
    out: dict[str, dict[str, str]] = {}
    for kind, roles in table.items():
        where = f"ladder.roles.{kind}"
        if kind not in UNIT_KINDS:
            raise ValueError(f"config/org.toml [{where}]: unknown unit kind {kind!r} "
                             f"(one of {', '.join(UNIT_KINDS)})")
        if not isinstance(roles, dict):
            raise ValueError(f"config/org.toml [{where}]: a table with notice_role and listing_role is needed")
        unknown = sorted(set(roles) - set(_LADDER_ROLE_KEYS))
        if unknown:
            raise ValueError(f"config/org.toml [{where}] {unknown[0]}: unknown key "
                             f"(only {', '.join(_LADDER_ROLE_KEYS)})")
        out[kind] = {"notice": _role_name(roles, "notice_role", where, settings.ladder_notice_role),
                     "listing": _role_name(roles, "listing_role", where, settings.ladder_listing_role)}
    return out


def _group_case(table, settings: EngineSettings) -> None:
    """[group_case]: when a case is 群体性, who is told, whom the 会商研判 may call. Raises ValueError naming the
    key that is wrong."""
    if not isinstance(table, dict):
        raise ValueError("config/org.toml [group_case]: a table is needed")
    known = {"people_involved_at_least", "director_role", "consultation_roles"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"config/org.toml [group_case] {unknown[0]}: unknown key (only {', '.join(sorted(known))})")
    at_least = table.get("people_involved_at_least", settings.group_people_at_least)
    if isinstance(at_least, bool) or not isinstance(at_least, int) or at_least < 2:
        raise ValueError(f"config/org.toml [group_case] people_involved_at_least: a whole number of at least 2 is "
                         f"needed, not {at_least!r}")
    settings.group_people_at_least = at_least
    settings.group_director_role = _role_name(table, "director_role", "group_case", settings.group_director_role)
    roles = table.get("consultation_roles", list(settings.group_consultation_roles))
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and r.strip() for r in roles):
        raise ValueError("config/org.toml [group_case] consultation_roles: a non-empty list of role names is needed")
    settings.group_consultation_roles = tuple(r.strip() for r in roles)


class SpecCache:
    """Parsed specs per process version id (they never change once deployed), bounded LRU."""

    def __init__(self, size: int = 256):
        self._items: OrderedDict[int, object] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, key: int):
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: int, item) -> None:
        with self._lock:
            self._items[key] = item
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class Runtime:
    def __init__(self, settings: EngineSettings, clock: Clock | None = None):
        install_spiff_clock()  # idempotent: the SpiffWorkflow patches, once per process
        spiff_fixes.install()
        self.settings = settings
        self.clock = clock or Clock()
        self.calendar = LegalCalendar(settings.calendar_overrides)
        self.calendar_notices: dict = {}  # year -> the notice entered in the console (services/calendar_admin.py)
        self.calendar_version = 0  # the highest calendar_notices.version served
        self.helpers = bpmn_helpers(self.calendar)
        self.script_limits = scripting.Limits(settings.script_cpu_seconds, settings.script_memory_mb,
                                              settings.script_output_kb)
        self.script_engine = scripting.make_script_engine(self.helpers, self.script_limits)
        self.specs = SpecCache()
        # Settings saved in the console (services/settings_admin.py) are served over the files' (the seed):
        # `settings` is swapped whole, never changed in place, so a command reading it sees one version.
        self.seed_settings = settings
        self.settings_version = 0  # the highest settings.version served
        self.ladder_base = ladder_policy.parse(ladder_policy.from_settings(settings))  # the files' policy
        # the ladder policies saved in the console, oldest first: (in force from, applies to open tasks, policy)
        self.ladder_versions: tuple = ()
        self.disabled_units: frozenset[int] = frozenset()  # org units disabled (停用): routing refuses them

    def ladder_policy_at(self, created) -> ladder_policy.LadderPolicy:
        """The policy a task opened at `created` follows: the newest saved one in force by then or applied to
        open tasks when it was saved; the files' policy before any was saved."""
        for in_force, to_open, policy in reversed(self.ladder_versions):
            if to_open or created > in_force:
                return policy
        return self.ladder_base

    def current_ladder_policy(self) -> ladder_policy.LadderPolicy:
        return self.ladder_versions[-1][2] if self.ladder_versions else self.ladder_base

    def use_settings(self, values: dict, ladder_versions: tuple, version: int) -> None:
        """Serve the settings saved in the console (key -> value, checked when saved) over the files' values;
        a key without a saved value keeps the file's. One assignment: a command in flight keeps the settings it
        read."""
        settings = copy.copy(self.seed_settings)
        settings.calendar_overrides = self.settings.calendar_overrides
        if "lane_roles" in values:
            settings.lane_roles = dict(values["lane_roles"])
        if "group_case" in values:
            group = values["group_case"]
            settings.group_people_at_least = int(group["people_involved_at_least"])
            settings.group_director_role = group["director_role"]
            settings.group_consultation_roles = tuple(group["consultation_roles"])
        if "ranking" in values:
            settings.ranking_weights = {k: float(v) for k, v in values["ranking"]["weights"].items()}
        if ladder_versions:
            current = ladder_versions[-1][2]
            settings.ladder_enabled = current.enabled
            settings.tier_ladder = {tier: policy.enabled for tier, policy in current.tiers.items()}
            settings.ladder_roles = {kind: dict(pair) for kind, pair in current.roles.items()}
        self.ladder_versions = ladder_versions
        self.settings, self.settings_version = settings, version

    def use_calendar(self, overrides: dict | None) -> None:
        """Serve a changed calendar (config/calendar.toml edited while running): a new LegalCalendar and the
        helpers and script engine built on it, with the years entered in the console (calendar_notices) still
        layered over it. Raises CalendarError for bad data, keeping the calendar served."""
        self._serve(overrides, self.calendar_notices)
        self.settings.calendar_overrides = overrides

    def use_notices(self, notices: dict, version: int) -> None:
        """Serve the years entered in the administration console (services/calendar_admin.py: year -> notice)
        over the calendar file. Raises CalendarError for bad data, keeping the calendar served."""
        self._serve(self.settings.calendar_overrides, notices)
        self.calendar_notices, self.calendar_version = notices, version

    def with_calendar(self, overrides: dict | None) -> Runtime:
        """A copy of this runtime serving `overrides` (already layered): to see what a calendar change would
        move before it is saved, without changing what this process serves."""
        trial = copy.copy(self)
        trial.calendar = LegalCalendar(overrides)
        trial.helpers = bpmn_helpers(trial.calendar)
        trial.script_engine = scripting.make_script_engine(trial.helpers, self.script_limits)
        return trial

    def _serve(self, overrides: dict | None, notices: dict) -> None:
        calendar = LegalCalendar(layered(overrides, notices))
        helpers = bpmn_helpers(calendar)
        script_engine = scripting.make_script_engine(helpers, self.script_limits)
        self.calendar, self.helpers, self.script_engine = calendar, helpers, script_engine


INFO_KEY = "jiefen.runtime"


def bind(target, rt: Runtime):
    """Carry `rt` on a Session or a sessionmaker (every session it makes then has it); returns `target`."""
    if isinstance(target, sessionmaker):
        target.kw["info"] = {**(target.kw.get("info") or {}), INFO_KEY: rt}
    elif isinstance(target, Session):
        target.info[INFO_KEY] = rt
    else:
        raise TypeError(f"runtime.bind needs a Session or a sessionmaker, not {type(target).__name__}")
    return target


def of(session: Session) -> Runtime:
    """The runtime the session was bound to. Raises RuntimeError naming the fix when it has none."""
    rt = session.info.get(INFO_KEY)
    if rt is None:
        raise RuntimeError(
            "this session carries no jiefen runtime: build one with runtime.Runtime(settings, clock) and bind it, "
            "e.g. Session(engine, info={'jiefen.runtime': rt}), sessionmaker(..., info={'jiefen.runtime': rt}) "
            "or runtime.bind(session, rt)")
    return rt
