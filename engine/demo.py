"""Demo center: a county center (under a city 市级 center) with townships, villages and resident departments,
one user per role,
and a few dozen cases at different stages (some overdue). Idempotent; demo passwords only in demo mode."""
from __future__ import annotations

import logging
import random
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import runtime
from engine.clock import CHINA_TZ, Clock
from engine.directory import DEMO_PASSWORD
from engine.errors import CaseError
from engine.models import CaseModel, RoleModel, UserModel
from engine.services import cases, processes, tasks, users
from engine.services.timers import fire_due_timers

log = logging.getLogger(__name__)

CITY = ("330100000", "杭州市综治中心", "330100")  # the top: a county's 上报 goes here
COUNTY = ("330106000", "西湖区综治中心", "330106")
TOWNSHIPS = [("330106001", "北山街道综治中心"), ("330106002", "西溪街道综治中心")]
VILLAGES = [("330106001001", "曙光社区调解室", "330106001"), ("330106001002", "宝石社区调解室", "330106001"),
            ("330106002001", "翠苑一区调解室", "330106002")]
DEPARTMENTS = [("330106-court", "区人民法院", "常驻"), ("330106-procuratorate", "区人民检察院", "常驻"),
               ("330106-police", "区公安分局", "常驻"), ("330106-justice", "区司法局", "常驻"),
               ("330106-hrss", "区人社局（劳动仲裁）", "常驻"), ("330106-union", "区总工会", "轮驻"),
               ("330106-civil", "区民政局", "轮驻"), ("330106-housing", "区住建局", "轮驻"),
               ("330106-market", "区市场监管局", "随驻")]
ROLE_TITLES = {
    "intake_clerk": "窗口受理员", "screener": "研判员", "mediator": "调解员", "dept_court": "法院",
    "dept_procuratorate": "检察院", "dept_police": "公安", "dept_justice": "司法局", "dept_hrss": "人社局/劳动仲裁",
    "dept_union": "工会", "dept_civil_affairs": "民政", "dept_housing": "住建", "grassroots_mediator": "村/社区调解员",
    "task_force": "专班", "supervisor": "督办岗", "director": "中心主任", "revisit_staff": "回访员",
    "petition_office": "信访部门", "competent_body": "有权处理机关", "review_body": "复查机关",
    "court_clerk": "立案庭", "judge": "法官", "enforcement": "执行局", "unit_head": "部门负责人",
}
# username -> (display name, roles, org codes; None = the county center); README lists them.
DEMO_USERS = {
    "admin": ("系统管理员", ["admin"], None),
    "auditor": ("审计员", ["auditor"], None),
    "clerk": ("王窗口", ["intake_clerk"], None),
    "screener": ("李研判", ["screener"], None),
    "mediator": ("赵调解", ["mediator"], None),
    "grassroots": ("钱社区", ["grassroots_mediator", "intake_clerk"], ["330106001001"]),
    "township": ("孙街道", ["mediator", "intake_clerk", "screener"], ["330106001"]),
    "court": ("周法院", ["dept_court"], None),
    "police": ("吴公安", ["dept_police"], None),
    "justice": ("郑司法", ["dept_justice"], None),
    "labour": ("冯仲裁", ["dept_hrss"], None),
    "union": ("陈工会", ["dept_union"], None),
    "civil": ("褚民政", ["dept_civil_affairs"], None),
    "housing": ("卫住建", ["dept_housing"], None),
    "procurator": ("蒋检察", ["dept_procuratorate"], None),
    "taskforce": ("沈专班", ["task_force"], None),
    "supervisor": ("韩督办", ["supervisor"], None),
    "director": ("杨主任", ["director", "supervisor"], None),
    "revisit": ("朱回访", ["revisit_staff"], None),
    "petition": ("秦信访", ["petition_office"], None),
    "competent": ("尤承办", ["competent_body"], None),
    "review": ("许复查", ["review_body"], None),
    "court_clerk": ("何立案", ["court_clerk"], None),
    "judge": ("吕法官", ["judge"], None),
    "enforcement": ("施执行", ["enforcement"], None),
    "unit_head": ("张科长", ["unit_head"], None),
    "city": ("高市级", ["screener", "director"], [CITY[0]]),
}
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨磊", "黄敏", "赵军", "周杰", "吴霞", "徐涛", "孙丽"]
SUMMARIES = ["邻里噪音纠纷，双方多次争吵", "拖欠工资三个月，涉及12名工人", "物业费争议，业主拒缴", "宅基地边界争议",
             "交通事故赔偿金额分歧", "婚姻家庭财产分割纠纷", "消费者购买家电质量纠纷", "医疗费用赔偿争议"]


def _ensure_directory(session: Session) -> None:
    users.init_directory(session, *CITY, kind="city")
    users.add_org_unit(session, COUNTY[0], COUNTY[1], "county", CITY[0], area_code=COUNTY[2])
    for code, name in TOWNSHIPS:
        users.add_org_unit(session, code, name, "township", COUNTY[0])
    for code, name, parent in VILLAGES:
        users.add_org_unit(session, code, name, "village", parent)
    for code, name, presence in DEPARTMENTS:
        users.add_org_unit(session, code, name, "department", COUNTY[0], presence=presence)
    users.ensure_roles(session, ROLE_TITLES)
    session.commit()


def _ensure_users(session: Session) -> int:
    known = set(session.scalars(select(RoleModel.name)))
    added = 0
    for username, (display, roles, orgs) in DEMO_USERS.items():
        if session.scalar(select(UserModel.id).where(UserModel.username == username)) is not None:
            continue
        roles = [r for r in roles if r in known]
        if roles:
            users.create_user(session, username, DEMO_PASSWORD, roles, orgs or [COUNTY[0]], display)
            added += 1
    return added


def _value_for(field: dict, rng: random.Random, today: date, choices: dict):
    kind = field["type"].lower()
    wanted = choices.get(field["id"])
    if field.get("options_from"):  # a unit to hand the case down to (交办): the demo keeps it at its center
        return wanted
    if wanted is not None:
        if kind == "enum" and wanted in [v for v, *_ in field.get("enum") or []]:
            return wanted
        if kind == "boolean" and isinstance(wanted, bool):
            return wanted
    if kind == "enum":
        values = [v for v, *_ in field.get("enum") or []]
        if field.get("multiple"):
            return [rng.choice(values)] if values else []
        return rng.choice(values) if values else None
    if kind == "boolean":
        return False
    if field["id"] == "people_involved":  # most matters are between a few people; now and then a group (群体性)
        return rng.choice([1, 2, 2, 2, 2, 3, 3, 4, 5, 6, 8, 15, 32])
    if kind in ("long", "integer"):
        low = int(field["min"]) if field.get("min") is not None else 1
        high = int(field["max"]) if field.get("max") is not None else max(low, 1) + 50
        return rng.randint(low, max(low, min(high, low + 100)))
    if kind == "date":
        return today.isoformat()
    if field["id"] in ("party_name", "applicant", "petitioner"):
        return rng.choice(NAMES)
    if "phone" in field["id"]:
        return f"138{rng.randint(0, 99999999):08d}"
    text = rng.choice(SUMMARIES)
    if field.get("maxlength"):
        text = text[: int(field["maxlength"])]
    if field.get("minlength") and len(text) < int(field["minlength"]):
        text = text.ljust(int(field["minlength"]), "。")
    return text


def _form_data(session: Session, task, rng: random.Random, today: date, choices: dict) -> dict:
    data = {}
    for field in tasks.task_form(session, task):
        if field.get("readonly"):
            continue
        value = _value_for(field, rng, today, choices)
        if value is not None:
            data[field["id"]] = value
    return data


def _actor_for_task(session: Session, task) -> users.Actor | None:
    for username in DEMO_USERS:
        actor = users.load_actor(session, username)
        if tasks.can_act(session, actor, task):
            return actor
    return None


# Choices that keep demo cases on the main paths (away from refusals and early closures).
MAIN_PATH = {"accept_mediation": True, "refuses_mediation": False, "party_refuses": False, "refused": False,
             "escalation_risk": False, "high_risk": False, "report_up": False, "competent": True,
             "wants_confirmation": True, "agreement": "agreed", "result": "agreed", "outcome": "agreed",
             "both_apply": True, "accepted": True, "channel": None}


def _advance_case(session: Session, case_id: int, steps: int, rng: random.Random, clock: Clock) -> None:
    for _ in range(steps):
        open_tasks = [t for t in cases.open_tasks(session, case_id) if t.kind == "bpmn"]
        if not open_tasks:
            return
        task = open_tasks[0]
        actor = _actor_for_task(session, task)
        if actor is None:
            return
        clock.advance(hours=rng.randint(2, 30))
        choices = {k: v for k, v in MAIN_PATH.items() if v is not None}
        data = _form_data(session, task, rng, clock.now().astimezone(CHINA_TZ).date(), choices)
        try:
            tasks.claim_task(session, task.id, actor)
            tasks.complete_task(session, task.id, data, actor)
        except CaseError as exc:  # a demo step the process refuses: leave the case where it is
            session.rollback()
            log.info("demo case %s stays at %s: %s", case_id, task.spec_name, exc.message)
            return


def load_demo(session: Session, processes_dir: str, cases_per_process: int = 12, seed: int = 20261123) -> str:
    """Create (once) the demo center, users and cases. Returns a one-line summary."""
    _ensure_directory(session)
    files = processes.read_directory(processes_dir)
    deployed = processes.deploy(session, files, users.SYSTEM) if files else []
    added_users = _ensure_users(session)
    if session.scalar(select(func.count()).select_from(CaseModel)) > 0:
        return f"demo already loaded; {added_users} users added; processes: " + \
            ", ".join(f"{d.process_id} v{d.version}" for d in deployed)
    rt = runtime.of(session)
    real_clock = rt.clock
    rng = random.Random(seed)
    now = real_clock.now()
    opened = 0
    starters = {"dispute": "clerk", "petition_revisit": "petition", "judicial_confirmation": "mediator"}
    try:
        for d in deployed:
            starter = starters.get(d.process_id)
            if starter is None:
                continue
            for i in range(cases_per_process):
                clock = Clock(fixed=now - timedelta(days=rng.randint(1, 40), hours=rng.randint(0, 8)))
                rt.clock = clock
                actor = users.load_actor(session, starter)
                try:
                    case = cases.start_case(session, d.process_id, {}, actor)
                except CaseError as exc:
                    session.rollback()
                    log.warning("demo: cannot open %s: %s", d.process_id, exc.message)
                    break
                opened += 1
                _advance_case(session, case.id, i % 7, rng, clock)
    finally:
        rt.clock = real_clock
    fired = fire_due_timers(session, now)
    return (f"demo loaded: {opened} cases, {added_users} users (password {DEMO_PASSWORD!r}), "
            f"{fired.fired} timers fired up to now")
