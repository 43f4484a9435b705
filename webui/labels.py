"""Display names the UI translates: case statuses, history event types, warning levels, known roles."""
from __future__ import annotations

from flask_babel import lazy_gettext

from engine.actors import PARTY_ACTOR
from engine.models import OUTCOME_CLASSES
from engine.services.cases import PARTY_RATINGS as PARTY_RATING_IDS
from engine.services.cases import PUBLIC_STAGES as PUBLIC_STAGE_IDS
from engine.services.timers import LEVEL_NAMES

STATUS = {"open": lazy_gettext("In progress"), "closed": lazy_gettext("Closed")}

# How one case follows from another (cases.link_kind: jiefen.link_kind on a process's jiefen.open_case, or the
# intake's 重复件 choice)
LINK_KINDS = {"repeat": lazy_gettext("repeat of the same matter"), "reopened": lazy_gettext("reopened"),
              "confirmation": lazy_gettext("judicial confirmation")}

# Outcome classes of closed cases (engine.models.OUTCOME_CLASSES, the end event's jiefen.outcome_class).
OUTCOME_CLASS = {"resolved": lazy_gettext("Resolved"), "unresolved": lazy_gettext("Not resolved"),
                 "withdrawn": lazy_gettext("Withdrawn"), "transferred": lazy_gettext("Transferred"),
                 "not_accepted": lazy_gettext("Not accepted")}
assert set(OUTCOME_CLASS) == set(OUTCOME_CLASSES), "an outcome class has no UI name"

# Warning levels of the supervision ladder (engine/services/timers.LEVEL_NAMES) and their badge colours.
LEVELS = {1: lazy_gettext("Prompt"), 2: lazy_gettext("Reminder"), 3: lazy_gettext("Supervision notice"),
          4: lazy_gettext("Red listing")}
LEVEL_CLASS = {1: "badge-blue", 2: "badge-orange", 3: "badge-yellow", 4: "badge-red"}
assert set(LEVELS) == {k for k, v in LEVEL_NAMES.items() if v}, "a ladder level has no UI name"

EVENTS = {
    "case_started": lazy_gettext("Case registered"),
    "task_opened": lazy_gettext("Task opened"),
    "task_claimed": lazy_gettext("Task claimed"),
    "task_unclaimed": lazy_gettext("Task released"),
    "task_released": lazy_gettext("Claim released by a supervisor"),
    "task_reassigned": lazy_gettext("Task reassigned"),
    "task_urged": lazy_gettext("Reminder sent"),
    "attachment_added": lazy_gettext("File uploaded"),
    "document_issued": lazy_gettext("Document issued"),
    "party_rated": lazy_gettext("Rated by the party"),
    "task_completed": lazy_gettext("Task completed"),
    "task_cancelled": lazy_gettext("Task cancelled"),
    "timer_fired": lazy_gettext("Timer fired"),
    "deadlines_recomputed": lazy_gettext("Deadlines recomputed"),
    "expiry_held": lazy_gettext("Period end awaits confirmation"),
    "expiry_confirmed": lazy_gettext("Period end confirmed"),
    "task_escalated": lazy_gettext("Supervision step"),
    "supervision_answered": lazy_gettext("Supervision answered"),
    "supervision_closed": lazy_gettext("Supervision closed"),
    "supervision_returned": lazy_gettext("Supervision answer sent back"),
    "reminder_recorded": lazy_gettext("Reminder: holder urged"),
    "reminder_closed": lazy_gettext("Reminder closed: the late task was done"),
    "case_flagged": lazy_gettext("Marked as a group or high-risk case"),
    "consultation_called": lazy_gettext("Joint consultation called"),
    "consultation_answered": lazy_gettext("Joint consultation opinion"),
    "case_closed": lazy_gettext("Case closed"),
    "case_migrated": lazy_gettext("Case migrated to a new process version"),
    "case_linked": lazy_gettext("Linked case opened"),
    "case_moved": lazy_gettext("Case reported up to the next-level center"),
    "case_assigned": lazy_gettext("Case handed down to a unit below (交办)"),
    "incident_opened": lazy_gettext("Incident: a timer kept failing"),
    "incident_resolved": lazy_gettext("Incident resolved"),
}

# Role ids the processes use (domain.md); roles a deployment adds fall back to their stored title.
ROLES = {
    "intake_clerk": lazy_gettext("Intake clerk"),
    "screener": lazy_gettext("Screener"),
    "mediator": lazy_gettext("Mediator"),
    "revisit_staff": lazy_gettext("Revisit staff"),
    "unit_head": lazy_gettext("Unit head"),
    "competent_body_head": lazy_gettext("Head of the competent body"),
    "supervisor": lazy_gettext("Supervision desk"),
    "director": lazy_gettext("Center director"),
    "admin": lazy_gettext("Administrator"),
    "auditor": lazy_gettext("Auditor"),
    "dept_hrss": lazy_gettext("Human resources and social security"),
    "petition_office": lazy_gettext("Petition office"),
    "court_clerk": lazy_gettext("Court filing clerk"),
    "judge": lazy_gettext("Judge"),
}

TIERS = {"simple": lazy_gettext("Simple"), "ordinary": lazy_gettext("Ordinary"),
         "complex": lazy_gettext("Complex"), "major": lazy_gettext("Major")}

CHANNELS = {"walk_in": lazy_gettext("Walk-in"), "phone": lazy_gettext("Phone call"), "letter": lazy_gettext("Letter"),
            "online": lazy_gettext("Online"), "grid": lazy_gettext("Grid worker report"),
            "hotline_12345": lazy_gettext("12345 hotline"), "dept_referral": lazy_gettext("Department referral"),
            "court_referral": lazy_gettext("Court referral"),
            "higher_assignment": lazy_gettext("Assigned by a higher level")}

SYSTEM_ACTOR = lazy_gettext("System")
PARTY = lazy_gettext("The party")

# The public look-up's stages (engine.services.cases.PUBLIC_STAGES): the step names, and the stage as a sentence.
PUBLIC_STAGES = {"registered": lazy_gettext("Registration"), "screening": lazy_gettext("Assessment"),
                 "handling": lazy_gettext("Handling"), "feedback": lazy_gettext("Feedback and follow-up"),
                 "closed": lazy_gettext("Concluded")}
PUBLIC_STAGE_TEXT = {"registered": lazy_gettext("Your case has been registered and is being accepted"),
                     "screening": lazy_gettext("Your case is being assessed and sent to the unit that will handle it"),
                     "handling": lazy_gettext("Your case is being handled (mediation or other handling)"),
                     "feedback": lazy_gettext("The result is being fed back to you and followed up"),
                     "closed": lazy_gettext("Your case has been concluded")}
assert set(PUBLIC_STAGES) == set(PUBLIC_STAGE_TEXT) == set(PUBLIC_STAGE_IDS), "a public stage has no UI name"

# The party's own rating (engine.services.cases.PARTY_RATINGS).
PARTY_RATINGS = {"satisfied": lazy_gettext("Satisfied"), "basically_satisfied": lazy_gettext("Fairly satisfied"),
                 "dissatisfied": lazy_gettext("Dissatisfied")}
assert set(PARTY_RATINGS) == set(PARTY_RATING_IDS), "a party rating has no UI name"


def role_name(role: str, titles: dict[str, str | None] | None = None) -> str:
    """A role as pages name it. `titles` (webui.shell.role_titles) already holds, per role, the name an
    administrator gave it in the reader's language, else the built-in name, else its stored title."""
    if titles and titles.get(role):
        return str(titles[role])
    if role in ROLES:
        return str(ROLES[role])
    return role


def role_title(role, chinese: bool) -> str | None:
    """The name of a role row (RoleModel) in the reader's language: the administrator's (name_zh / name_en),
    else the built-in name, else its stored title ("中文 / English": the part of the language)."""
    own = role.name_zh if chinese else role.name_en
    if own:
        return own
    if role.name in ROLES:
        return str(ROLES[role.name])
    if role.title and " / " in role.title:
        zh, _, en = role.title.partition(" / ")
        return zh.strip() if chinese else en.strip()
    return role.title


# Org units (engine/services/org.py): kinds, a resident department's presence (engine/presence.py), weekdays.
UNIT_KINDS = {"city": lazy_gettext("City center"), "county": lazy_gettext("District/county center"),
              "township": lazy_gettext("Township/subdistrict center"),
              "village": lazy_gettext("Village/community committee"), "department": lazy_gettext("Resident department")}
UNIT_LEVELS = {0: lazy_gettext("City level"), 1: lazy_gettext("District/county level"),
               2: lazy_gettext("Township level"), 3: lazy_gettext("Village level")}
PRESENCES = {"resident": lazy_gettext("Resident (every working day)"), "rota": lazy_gettext("Rota (set weekdays)"),
             "on_call": lazy_gettext("On call")}
PRESENCE_SHORT = {"resident": lazy_gettext("Resident"), "rota": lazy_gettext("Rota"),
                  "on_call": lazy_gettext("On call")}
WEEKDAYS = {1: lazy_gettext("Mon"), 2: lazy_gettext("Tue"), 3: lazy_gettext("Wed"), 4: lazy_gettext("Thu"),
            5: lazy_gettext("Fri"), 6: lazy_gettext("Sat"), 7: lazy_gettext("Sun")}
PRESENCE_STATES = {"present": lazy_gettext("On duty"), "absent": lazy_gettext("Away"),
                   "on_call": lazy_gettext("On call"), "rest_day": lazy_gettext("Rest day")}


def weekdays_text(days) -> str:
    return "、".join(str(WEEKDAYS[int(d)]) for d in days or () if int(d) in WEEKDAYS)


def presence_text(kind: str | None, days=()) -> str:
    """常驻 / 轮驻：周二、周四 / 随驻."""
    if not kind:
        return ""
    if kind == "rota" and days:
        return lazy_gettext("Rota: %(days)s", days=weekdays_text(days))
    return str(PRESENCE_SHORT.get(kind, kind))


def presence_note(info: dict | None) -> str:
    """A unit option's presence today (engine/routing.units_below), for the dispatcher: "今日不在岗（轮驻：周二、
    周四）"; "" for a unit without one and for a resident department on duty."""
    if not info:
        return ""
    what = presence_text(info.get("presence"), info.get("rota_days"))
    state = info.get("today")
    if state == "absent":
        return lazy_gettext("Away today (%(presence)s)", presence=what)
    if state == "rest_day":
        return lazy_gettext("Not on duty today: rest day (%(presence)s)", presence=what)
    if state == "on_call":
        return lazy_gettext("On call: contact them first")
    if state == "present" and info.get("presence") == "rota":
        return lazy_gettext("On duty today (%(presence)s)", presence=what)
    return ""


def actor_name(username: str | None, names: dict[str, str] | None = None) -> str:
    """How a page names who did something: the system, else the user's display name (王窗口), else the login."""
    if not username or username == "system":
        return str(SYSTEM_ACTOR)
    if username == PARTY_ACTOR:
        return str(PARTY)
    return (names or {}).get(username, username)

# The admin log's actions (engine/services/users.py and the other administrative commands).
ADMIN_ACTIONS = {
    "user_created": lazy_gettext("User created"),
    "user_imported": lazy_gettext("User imported"),
    "user_updated": lazy_gettext("User details changed"),
    "user_disabled": lazy_gettext("User disabled"),
    "user_enabled": lazy_gettext("User enabled"),
    "memberships_changed": lazy_gettext("Roles changed"),
    "password_reset": lazy_gettext("Password reset"),
    "password_changed": lazy_gettext("Password changed"),
    "calendar_year_saved": lazy_gettext("Calendar year entered"),
    "org_unit_added": lazy_gettext("Org unit added"),
    "org_unit_updated": lazy_gettext("Org unit changed"),
    "org_unit_moved": lazy_gettext("Org unit moved"),
    "org_unit_deleted": lazy_gettext("Org unit deleted"),
    "role_renamed": lazy_gettext("Role renamed"),
    "setting_saved": lazy_gettext("Setting changed"),
    "setting_seeded": lazy_gettext("Setting loaded from the configuration file"),
    "org_unit_disabled": lazy_gettext("Org unit disabled"),
    "org_unit_enabled": lazy_gettext("Org unit enabled"),
}
# The settings kept in the database (engine/services/settings_admin.py), as the admin log names them.
SETTING_NAMES = {
    "ladder": lazy_gettext("Supervision ladder"), "lane_roles": lazy_gettext("Lanes and their roles"),
    "group_case": lazy_gettext("Group and high-risk cases (群体性)"),
    "ranking": lazy_gettext("Ranking weights (1把尺子)"), "org_units_disabled": lazy_gettext("Disabled org units"),
}
# The fields of an admin log row's old / new values, as pages name them.
ADMIN_FIELDS = {
    "display_name": lazy_gettext("Name"), "phone": lazy_gettext("Phone"), "active": lazy_gettext("Active"),
    "memberships": lazy_gettext("Roles"), "released_tasks": lazy_gettext("Tasks returned to the pool"),
    "must_change_password": lazy_gettext("Must set a new password"),
    "holidays": lazy_gettext("Holidays"), "workdays": lazy_gettext("Make-up working days"),
    "closures": lazy_gettext("Closures"), "provisional": lazy_gettext("Provisional"),
    "code": lazy_gettext("Code"), "name": lazy_gettext("Unit name"), "kind": lazy_gettext("Kind"),
    "level": lazy_gettext("Level"), "area_code": lazy_gettext("Area code"), "parent": lazy_gettext("Parent unit"),
    "presence": lazy_gettext("Presence"), "rota_days": lazy_gettext("Rota days"),
    "units_moved": lazy_gettext("Units moved"), "name_zh": lazy_gettext("Chinese name"),
    "name_en": lazy_gettext("English name"),
    "value": lazy_gettext("Setting"), "version": lazy_gettext("Version"),
    "applies_to_open": lazy_gettext("Applies to open tasks"), "open_tasks": lazy_gettext("Open tasks"),
}
