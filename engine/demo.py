"""Demo center: a county center (under a city 市级 center) with townships, villages and resident departments,
one user per role, and a scripted story of about fifty cases over the last two months.

Each case is a small scenario (STORIES: who came, about what; SCENARIOS: which process, who registered it,
which unit handled it, the choices at each step and where it ends), driven through the processes' own forms
as the API does (tasks.task_form / complete_task) with values chosen by field id and meaning, so a field the
scenario does not name gets a plausible default. Dates are the day each step was done, never after today.
Every path of the three processes is represented, closed cases with each outcome, cases at county, township
and village level, 交办 down and 上报 up, and a handful deliberately late at each step of the supervision
ladder. A step the process refuses, a field the scenario names that the form no longer has, or a case that
does not end where its scenario says raises DemoError. Deterministic (seeded), idempotent (a second run adds
no case); demo passwords sign in only in demo mode."""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field as dc_field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine import ladder, runtime
from engine.clock import CHINA_TZ, Clock
from engine.directory import DEMO_PASSWORD
from engine.errors import CaseError
from engine.models import CaseEventModel, CaseModel, OrgUnitModel, RoleModel, TimerModel, UserModel
from engine.services import cases, processes, tasks, users
from engine.services.timers import fire_due_timers

log = logging.getLogger(__name__)

CITY = ("330100000", "杭州市综治中心", "330100")  # the top: a county's 上报 goes here
COUNTY = ("330106000", "西湖区综治中心", "330106")
TOWNSHIPS = [("330106001", "北山街道综治中心"), ("330106002", "西溪街道综治中心")]
VILLAGES = [("330106001001", "曙光社区调解室", "330106001"), ("330106001002", "宝石社区调解室", "330106001"),
            ("330106002001", "翠苑一区调解室", "330106002")]
# (code, name, presence, rota days): 常驻 every working day, 轮驻 on the ISO weekdays named, 随驻 on call.
DEPARTMENTS = [("330106-court", "区人民法院", "resident", None), ("330106-procuratorate", "区人民检察院", "resident", None),
               ("330106-police", "区公安分局", "resident", None), ("330106-justice", "区司法局", "resident", None),
               ("330106-hrss", "区人社局（劳动仲裁）", "resident", None), ("330106-union", "区总工会", "rota", "2,4"),
               ("330106-civil", "区民政局", "rota", "1,3"), ("330106-housing", "区住建局", "rota", "5"),
               ("330106-market", "区市场监管局", "on_call", None)]
# Each unit's contact phone (the public look-up shows the handling unit's): made-up numbers of the 0571 area.
UNIT_PHONES = {"330106000": "0571-8701 2345", "330106001": "0571-8702 1100", "330106002": "0571-8703 2200",
               "330106001001": "0571-8702 1101", "330106001002": "0571-8702 1102", "330106002001": "0571-8703 2201",
               "330106-court": "0571-8704 0000", "330106-hrss": "0571-8705 0000", "330106-justice": "0571-8706 0000"}
ROLE_TITLES = {
    "intake_clerk": "窗口受理员", "screener": "研判员", "mediator": "调解员", "dept_court": "法院",
    "dept_procuratorate": "检察院", "dept_police": "公安", "dept_justice": "司法局", "dept_hrss": "人社局/劳动仲裁",
    "dept_union": "工会", "dept_civil_affairs": "民政", "dept_housing": "住建", "grassroots_mediator": "村/社区调解员",
    "task_force": "专班", "supervisor": "督办岗", "director": "中心主任", "revisit_staff": "回访员",
    "petition_office": "信访部门", "competent_body": "有权处理机关", "review_body": "复查机关",
    "court_clerk": "立案庭", "judge": "法官", "enforcement": "执行局", "unit_head": "部门负责人",
    "competent_body_head": "有权处理机关负责人",
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
    "competent_head": ("严局长", ["competent_body_head"], None),
    "city": ("高市级", ["screener", "director", "review_body"], [CITY[0]]),
}
class DemoError(CaseError):
    """The demo's story and the processes disagree: a refused step, a field gone from a form, a case that
    does not end where its scenario says. Names the scenario, the task and the field."""

    code = "demo"


@dataclass(frozen=True)
class Story:
    """Who came and about what: the register form's facts, and the texts later steps write about it."""
    party: str
    phone: str
    other: str
    category: str
    summary: str
    claim: str
    record: str  # 调解笔录摘要
    agreement: str  # 协议主要内容
    people: int = 2


STORIES = {
    "noise": Story("张伟", "13857112345", "王建国（楼上住户）", "neighbourhood",
                   "西湖区北山街道曙光路12号3单元，楼上住户夜间装修和拖动家具噪音持续两个月，双方多次争吵。",
                   "要求对方晚10点后停止施工，并赔礼道歉。",
                   "调解员分别听取双方陈述，现场查看楼板情况。王建国承认夜间施工，同意调整作息；双方对道歉方式有分歧，经释法说理后达成一致。",
                   "一、王建国家装修施工限于每日8时至12时、14时至18时；二、王建国当面向张伟赔礼道歉；三、双方今后友好相处。"),
    "wages": Story("刘洋", "13968023456", "杭州宏达建筑劳务有限公司", "labour",
                   "刘洋等5名工人在西溪街道文三路某工地务工，被拖欠三个月工资共计7.8万元。",
                   "要求公司一次性支付拖欠工资7.8万元。",
                   "劳动争议调解员召集公司负责人和工人代表面对面协商，核对考勤表和工资表，公司认可欠薪金额，提出分两期支付。",
                   "一、公司于协议签订当日支付工资5万元；二、余款2.8万元于协议签订后10日内付清；三、工人不再就此事主张其他权利。",
                   people=5),
    "property": Story("陈静", "13757134567", "杭州绿城物业服务有限公司翠苑分公司", "property_mgmt",
                      "翠苑一区6幢业主因电梯长期故障拒缴2025年度物业费3600元，物业公司多次催缴并贴出欠费公告。",
                      "要求物业公司修复电梯、撤下欠费公告，减免部分物业费。",
                      "调解员组织业主与物业公司座谈，物业公司承诺更换电梯主板，业主同意补缴物业费，欠费公告当场撤下。",
                      "一、物业公司于15日内完成电梯维修；二、陈静补缴物业费3240元（减免10%）；三、物业公司撤下欠费公告。"),
    "boundary": Story("黄敏", "13867145678", "赵长林（邻户）", "land_forest",
                      "北山街道宝石社区黄敏与邻户赵长林因宅基地东侧围墙边界相差约0.8米发生争议，双方曾发生推搡。",
                      "要求按1998年宅基地使用证确定边界，拆除越界围墙。",
                      "调解员会同社区干部调取宅基地档案，现场测量，双方确认以原界桩为准。赵长林同意后退围墙，费用由双方分担。",
                      "一、以原界桩为界，赵长林于30日内将东侧围墙后退0.8米；二、拆建费用双方各半；三、双方不再就边界发生争执。"),
    "traffic": Story("周杰", "13588156789", "吴海（小型客车驾驶人）", "traffic_accident",
                     "2026年在天目山路与古翠路口，吴海驾驶小型客车与周杰电动自行车相撞，周杰左腿骨折，交警认定吴海负主要责任。",
                     "要求赔偿医疗费、误工费、护理费等共计6.8万元。",
                     "调解员组织双方及保险公司核对医疗票据，保险公司按责任比例确认赔偿项目，吴海同意在保险外另行补偿。",
                     "一、保险公司赔付5.2万元；二、吴海另行补偿周杰1.1万元，当场付清；三、此次事故赔偿一次性了结。"),
    "family": Story("李娜", "13656167890", "孙强（配偶）", "marriage_family",
                    "李娜与孙强结婚十二年，因孙强长期酗酒发生矛盾，双方同意离婚，但对西溪路一套住房和子女抚养费分歧较大。",
                    "要求分得住房一半折价款，孩子随其生活，孙强每月支付抚养费2000元。",
                    "调解员与双方分别谈话，邀请双方父母参与，围绕子女利益做工作，孙强同意抚养费数额，住房按评估价折价。",
                    "一、住房归孙强所有，孙强于协议生效当日支付李娜折价款45万元；二、孩子随李娜生活，孙强每月支付抚养费2000元；三、孙强每月可探视两次。"),
    "consumer": Story("吴霞", "13777178901", "西湖区某家电卖场", "consumer",
                      "吴霞在某家电卖场购买的冰箱使用一周即不制冷，卖场以人为损坏为由拒绝退换。",
                      "要求退货退款5999元。",
                      "调解员联系厂家售后检测，确认压缩机故障，非人为损坏，卖场同意退货。",
                      "一、卖场当日为吴霞办理退货，退还货款5999元；二、上门取件费用由卖场承担。"),
    "medical": Story("徐涛", "13819189012", "西湖区某社区卫生服务中心", "medical",
                     "徐涛之父在社区卫生服务中心输液后出现过敏性休克，经抢救脱险，家属认为医院未做皮试，多次到院讨说法。",
                     "要求医院赔偿医疗费、护理费3.5万元并公开道歉。",
                     "医调委调解员调阅病历，听取医院说明，邀请医学专家释疑，医院承认告知不充分，同意给予补偿。",
                     "一、医院一次性补偿徐涛之父2.8万元；二、医院向家属书面致歉；三、双方不再就此事另行主张。"),
    "expropriation": Story("孙丽", "13906190123", "西溪街道征迁指挥部", "expropriation",
                           "西溪街道某村38户村民对征迁补偿中附属物评估结果有异议，部分村民多次聚集到街道反映。",
                           "要求重新评估附属物，按同地段标准补偿。",
                           "街道、区住建局和村两委联合做工作，委托第三方重新评估，公开评估结果，逐户解释补偿政策。",
                           "一、委托第三方重新评估附属物；二、按重新评估结果补足差额；三、村民停止聚集，依法表达诉求。",
                           people=38),
    "rent": Story("杨磊", "13588201234", "郑红（房东）", "other",
                  "杨磊租住文新街道某小区住房，提前一个月退租，房东郑红以房屋损坏为由扣留押金4500元。",
                  "要求退还押金4500元。",
                  "调解员组织双方查看交房照片，确认损坏为正常使用损耗，房东同意退还大部分押金。",
                  "一、郑红于当日退还杨磊押金4000元；二、余款500元抵作墙面修补费用。"),
    "dog": Story("赵军", "13757212345", "钱美华（邻居）", "neighbourhood",
                 "宝石社区赵军之子被邻居钱美华饲养的犬只咬伤，注射狂犬疫苗花费2300元，双方就赔偿发生争执。",
                 "要求赔偿医药费、误工费共3000元，并拴绳遛狗。",
                 "社区调解员上门调解，钱美华承认未拴绳，同意赔偿并承诺文明养犬。",
                 "一、钱美华赔偿赵军3000元，当场付清；二、钱美华遛狗时拴绳并清理粪便。"),
    "loan": Story("王芳", "13967223456", "何明（朋友）", "other",
                  "王芳2024年借给朋友何明8万元，约定一年归还，到期后何明以生意亏损为由拖延不还。",
                  "要求归还借款8万元及利息。",
                  "调解员核实借条，何明承认借款，提出分期还款，王芳同意免除部分利息。",
                  "一、何明于协议签订当日归还3万元；二、余款5万元于三个月内付清；三、王芳放弃利息主张。"),
    "petition_road": Story("钱进", "13858234567", "北山街道办事处", "other",
                           "北山街道某小区居民反映小区门口道路破损多年，雨天积水严重，多次向街道反映未果。",
                           "要求尽快修复道路、增设排水设施。", "", ""),
    "petition_pension": Story("冯秀英", "13655245678", "区人社局", "labour",
                              "冯秀英反映其在原集体企业工作年限未被认定为视同缴费年限，影响养老金待遇。",
                              "要求认定1985年至1995年为视同缴费年限，补发养老金差额。", "", ""),
    "petition_demolition": Story("褚建华", "13706256789", "区住建局", "expropriation",
                                 "褚建华反映其房屋在征收中被认定为违章建筑，未获补偿，认为认定依据不足。",
                                 "要求重新认定房屋性质并给予补偿。", "", ""),
    "petition_school": Story("卫晓明", "13819267890", "区教育局", "other",
                             "卫晓明建议在西溪街道新建小区配套建设幼儿园，解决附近适龄儿童入园难问题。",
                             "建议新建公办幼儿园一所。", "", ""),
    "petition_police": Story("蒋立", "13967278901", "区公安分局", "other",
                             "蒋立反映其报案的被盗案件立案半年未破，对公安机关办案进度不满，多次来访。",
                             "要求公安机关尽快破案、追回财物。", "", ""),
    "petition_official": Story("沈国平", "13588289012", "某村党支部书记", "other",
                               "沈国平举报某村党支部书记在土地流转中收受好处、优亲厚友。",
                               "要求查处村干部违纪违法问题。", "", ""),
    "petition_heating": Story("韩梅", "13757290123", "区住建局", "property_mgmt",
                              "韩梅反映所住小区二次供水水压不足，高层住户长期用水困难。",
                              "要求改造二次供水设施。", "", ""),
}


def _ensure_directory(session: Session) -> None:
    root = users.init_directory(session, *CITY, kind="city")
    if root.code == COUNTY[0]:
        _put_county_under_city(session, root)
    users.add_org_unit(session, COUNTY[0], COUNTY[1], "county", CITY[0], area_code=COUNTY[2],
                       phone=UNIT_PHONES.get(COUNTY[0]))
    for code, name in TOWNSHIPS:
        users.add_org_unit(session, code, name, "township", COUNTY[0], phone=UNIT_PHONES.get(code))
    for code, name, parent in VILLAGES:
        users.add_org_unit(session, code, name, "village", parent, phone=UNIT_PHONES.get(code))
    for code, name, presence, rota_days in DEPARTMENTS:
        users.add_org_unit(session, code, name, "department", COUNTY[0], presence=presence, rota_days=rota_days,
                           phone=UNIT_PHONES.get(code))
    users.ensure_roles(session, ROLE_TITLES)
    session.commit()


def _put_county_under_city(session: Session, county: OrgUnitModel) -> None:
    """`jiefen init-db` (and `make run`) made the county the top-level center: the demo's county reports up
    (上报) to a city center, so a fresh county (nothing under it yet, no case) is put under the demo's city.
    A county with units or cases under it is left alone (DemoError: init the demo database afresh)."""
    below = session.scalar(select(func.count()).select_from(OrgUnitModel).where(OrgUnitModel.parent_id == county.id))
    if below or session.scalar(select(func.count()).select_from(CaseModel)):
        raise DemoError(f"the top-level center is {county.code} {county.name}, with units or cases under it; the "
                        f"demo needs its city center {CITY[0]} {CITY[1]} on top: load it into a fresh database")
    city = OrgUnitModel(code=CITY[0], name=CITY[1], kind="city", level=users.LEVELS["city"], area_code=CITY[2],
                        parent_id=None, path="/")
    session.add(city)
    session.flush()
    city.path = f"/{city.id}/"
    county.parent_id, county.path = city.id, f"/{city.id}/{county.id}/"
    session.commit()
    log.info("demo: %s %s put under %s %s", county.code, county.name, city.code, city.name)


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


COURT = "杭州市西湖区人民法院"
REFERRALS = ("dept_referral", "court_referral", "higher_assignment")  # channels that come with a 文号
ARBITRATION = "杭州市西湖区劳动人事争议仲裁委员会"


def _texts(story: Story, ctx: "_Ctx") -> dict:
    """Plausible text per field id (by what the field means), for the story of one case."""
    no = ctx.number
    year = ctx.day.year
    return {
        "party_name": story.party, "party_phone": story.phone, "other_party": story.other,
        "summary": story.summary, "party_claim": story.claim, "petition_claim": story.claim,
        "first_officer": ctx.actor_name,
        "referral_no": f"西法委调〔{year}〕{no:03d}号",
        "petition_no": f"西信〔{year}〕{no:04d}号",
        "screen_note": "当事人同意调解，事实基本清楚，暂无激化迹象，按等级分流。",
        "dispatch_note": "请承办单位按期办理，及时反馈调处结果。",
        "escalation_note": "已接收上报，重新研判后分流。",
        "joint_note": "定于次日上午在中心联合调解室组织各协办部门联合调解。",
        "joint_opinion": "本部门已派员参加联合调解，就职责范围内的问题提出处理意见，配合做好当事人工作。",
        "lead_leader": "杨主任", "task_force_members": "区住建局、区司法局、区信访局、属地街道",
        "case_plan": "一户一策，先评估后补偿，领导包案、专班跟进，每周会商一次。",
        "warning_action": "加快调解进度，征询当事人延长调解期限意见。",
        "mediation_record": story.record or "调解员听取双方陈述，核实有关事实，释法说理。",
        "termination_reason": "双方分歧较大，经两次调解未能达成一致，当事人要求通过诉讼解决。",
        "agreement_no": f"西人调〔{year}〕{no:03d}号", "agreement_content": story.agreement or "双方就争议事项达成一致。",
        "dispute_facts": story.summary, "disputed_issues": story.claim,
        "responsibility": "双方对纠纷的发生均负有一定责任，对方当事人负主要责任。",
        "performance_place": ctx.unit_name.replace("综治中心", "人民调解委员会") + "调解室",
        "mediator_name": ctx.actor_name,
        "reply_facts": "经调查核实，信访人反映的情况基本属实。", "reply_reasons": "依据有关法律法规和政策规定，作出上述处理意见。",
        "review_reasons": "原处理意见认定事实清楚，适用依据正确，程序合法。",
        "second_review_reasons": "复查意见认定事实清楚，适用依据正确，予以维持。",
        "supervision_matter": "信访事项超过办理期限未办结。", "supervision_requirement": "请于5个工作日内办结，并书面答复办理情况。",
        "mediation_org": ctx.unit_name.replace("综治中心", "人民调解委员会"),
        "feedback_note": "已将处理结果告知当事人，当事人表示认可。",
        "dissatisfaction_reason": "认为处理时间过长。",
        "revisit_note": "电话回访当事人，协议履行情况正常，双方关系缓和。",
        "urge_note": "调解员上门督促履行，说明不履行的法律后果。",
        "remedy_note": "已告知当事人可就调解协议向人民法院提起诉讼。",
        "arbitration_commission": ARBITRATION,
        "arbitration_note": "已告知当事人可自调解期满之日起依法申请劳动仲裁，并发放仲裁申请指引。",
        "police_measures": "民警到场稳控双方情绪，对当事人进行法治教育，落实社区网格员每日回访。",
        "police_unit": "西湖区公安分局北山派出所",
        "guidance_note": "已向当事人释明可选途径及时效，发放告知书。",
        "court_case_no": f"（{year}）浙0106民初{1000 + no}号",
        "competent_body_name": story.other if story.other.startswith("区") else "北山街道办事处",
        "forward_note": "请按职责受理办理，并在规定期限内答复信访人。",
        "objection_reason": "该事项不属于本机关职责范围。",
        "classify_note": "属于诉求类事项，依法办理。",
        "investigation_note": "承办人员实地调查，调取有关档案，听取信访人和有关方面意见。",
        "reply_no": f"西信复〔{year}〕{no:03d}号",
        "extension_reason": "案情复杂，需要多部门会商，申请延长办理期限30日。",
        "satisfaction_note": "信访人对答复意见表示理解。",
        "review_reason": "对处理意见不服，认为事实认定不清。",
        "second_review_reason": "对复查意见不服，请求复核。",
        "hearing_record": "组织听证，信访人、承办机关和听证员到场，听取各方意见。",
        "suggestion_reply": "您的建议已纳入年度建设计划，将在条件具备时组织实施。",
        "risk_measures": "落实包案领导和稳控责任人，每周走访一次。",
        "supervision_no": f"西信督〔{year}〕{no:03d}号",
        "supervision_answer": "已督促承办人员加快办理，预计一周内出具处理意见。",
        "jc_court_name": COURT, "jc_case_no": f"（{year}）浙0106民特{200 + no}号",
        "jc_ruling_no": f"（{year}）浙0106民特{200 + no}号",
        "jc_applicants": f"{story.party}、{story.other.split('（')[0]}",
        "jc_application_note": "双方当事人持调解协议共同到院申请司法确认。",
        "jc_review_note": "双方当事人到场，对协议内容和自愿性作了陈述。",
        "jc_supplement_items": "补充提交身份证明和协议履行相关票据。",
        "jc_supplement_note": "已补充提交身份证明复印件。",
        "jc_reminder_note": "已电话提醒当事人在期限内共同申请。",
        "jc_advice_note": "已告知当事人可就调解协议的履行或内容向人民法院提起诉讼。",
        "jc_notice_note": "已告知当事人不予受理的理由及其他救济途径。",
        "jc_enforcement_case_no": f"（{year}）浙0106执{300 + no}号",
        "jc_performance_note": "义务人已按协议履行完毕。",
        "jc_followup_note": "当事人决定向人民法院提起诉讼。",
        "jc_extension_reason": "案情复杂，需要进一步核实，同意延长10日。",
        "jc_cap_action": "已督促承办法官尽快审结。",
        "jc_enforce_reminder_note": "已提醒当事人申请执行的期间。",
        "reason": "承办人员同时办理多起群体性纠纷，调解工作安排不及时。",
        "measures": "已调整承办人员，约定双方当事人本周内再次调解。",
    }


@dataclass
class _Ctx:
    number: int
    day: date
    actor_name: str
    unit_name: str


def _parties(story: Story, number: int) -> list[dict]:
    """The two sides of the story as the rows of a repeatable `parties` group (jiefen.group): plausible sex, age,
    ID number and address beside the names the story gives (a demo's made-up people)."""
    other = story.other.split("（")[0]
    body = len(other) > 4  # a company or an office, not a person: no sex or age
    return [
        {"standing": "applicant", "name": story.party, "sex": "male" if number % 2 else "female", "age": 30 + number % 30,
         "id_number": f"33010619{80 + number % 20}0{1 + number % 9}1{number % 10}{1000 + number:04d}"[:17] + "X",
         "address": f"杭州市西湖区文三路{number}号", "phone": story.phone},
        {"standing": "respondent", "name": other, **({} if body else {"sex": "female" if number % 2 else "male",
                                                                      "age": 40 + number % 20}),
         "id_number": f"91330106MA2{number:07d}"[:18] if body else f"3301061975{number % 12 + 1:02d}15{number % 100:02d}3X"[:18],
         "address": f"杭州市西湖区天目山路{100 + number}号", "phone": f"0571-8{number:07d}"[:13]},
    ]


def _value_for(field: dict, story: Story, ctx: _Ctx, texts: dict):
    """A plausible value for a field the scenario does not set: by field id, else by type (the field's
    default, its first option, the day of the step, the smallest number allowed)."""
    fid, kind = field["id"], field["type"].lower()
    if field.get("options_from"):  # a unit to hand the case down to (交办): only when the scenario says so
        return None
    if fid == "people_involved":
        return story.people
    if fid == "category":
        return story.category
    if fid in texts and kind == "date":
        return texts[fid]
    if fid in texts and kind == "string":
        text = texts[fid]
        return text[: int(field["maxlength"])] if field.get("maxlength") else text
    options = [v for v, *_ in field.get("enum") or []]
    if kind == "enum":
        if field.get("default") in options:
            return field["default"]
        if field.get("multiple"):
            return options[:1]
        return options[0] if options else None
    if kind == "boolean":
        return False
    if kind in ("long", "integer"):
        if field.get("default") not in (None, ""):
            return int(float(field["default"]))
        return int(field["min"]) if field.get("min") is not None else 1
    if not field.get("required"):  # an optional date (交办期限, 上级交办期限) or text the story has nothing for
        return None
    if kind == "date":  # a fact recorded at this step (收件日期, 协议日期, 送达日期 …): the day it is done
        return ctx.day.isoformat()
    return "已按规定办理。"


# ---------------------------------------------------------------- the scenarios

@dataclass
class Scenario:
    """One case: its process, who opened it (their unit is the case's), the story, when it began (days ago),
    the values per task (a dict, a list of dicts for a task met several times, or WAIT: leave the task and let
    its timer fire), where it stops (a task left open, None = run until no step is left to do) and how it ends
    (the outcome, or None for an open case). `ladder` asks for the mediation task to be late at that step."""
    key: str
    process: str
    by: str
    story: str
    days_ago: float
    steps: dict = dc_field(default_factory=dict)
    stop: str | None = None
    outcome: str | None = None
    ladder: int = 0
    follow_up: str | None = None  # answer / review the 督办单 of a ladder case: "answered", "closed"
    child: "Scenario | None" = None  # a linked case the story opens (纠纷反弹, 另立化解案件)


WAIT = "wait"

# Step values that keep a dispute on its main path.
_AGREE = {"mediation_consent": "agree", "escalation_risk": "none"}
_ORD = {"dispatch_route": "handle", "handling_dept": "mediator", "mediation_type": "people"}
_SIGN = {"performance_mode": "immediate", "want_confirmation": False}
_REVISIT_OK = [{"performance_status": "performed"}, {"performance_status": "performed"}]


def _dispute(key, by, story, days_ago, *, tier="ordinary", dispatch=None, stop=None, outcome=None, **steps):
    base = {"register": {"channel": "walk_in"}, "screen": {**_AGREE, "tier": tier},
            "dispatch": dispatch or dict(_ORD), "mediate": {"mediation_result": "agreement", "mediation_sessions": 2},
            "sign_agreement": dict(_SIGN), "satisfaction_call": {"satisfaction": "satisfied"},
            "revisit_check": list(_REVISIT_OK)}
    base.update(steps)
    return Scenario(key, "dispute", by, story, days_ago, base, stop, outcome)


def _petition(key, story, days_ago, *, stop=None, outcome=None, child=None, **steps):
    base = {"pt_register": {"channel": "letter"}, "pt_forward": {"forward_decision": "competent"},
            "pt_competence": {"competence": "competent"}, "pt_accept": {"accept_decision": "accepted"},
            "pt_classify": {"petition_class": "claim"}, "pt_handle": {"handle_action": "opinion"},
            "pt_reply": {"handle_opinion": "support"}, "pt_rate_satisfaction": {"satisfaction": "satisfied"},
            "pt_revisit": [{"petitioner_mood": "stable", "rebound_risk": "low"}] * 2}
    base.update(steps)
    return Scenario(key, "petition_revisit", "petition", story, days_ago, base, stop, outcome, child=child)


_JC_OK = {"jc_register_agreement": {"jc_venue_basis": "mediation_org_location"},
          "jc_joint_application": {"jc_application": "joint"}, "jc_accept": {"jc_accept_decision": "accepted"},
          "jc_review": {"jc_review_decision": "ready", "jc_parties_present": True},
          "jc_issue_ruling": {"jc_ruling": "valid"}, "jc_track_performance": {"jc_performance": "performed"}}


def _jc(key, story, days_ago, *, stop=None, outcome=None, **steps):
    return Scenario(key, "judicial_confirmation", "mediator", story, days_ago, {**_JC_OK, **steps}, stop, outcome)


VILLAGE, TOWNSHIP = VILLAGES[0][0], TOWNSHIPS[0][0]

SCENARIOS = [
    # -- dispute, closed with each outcome
    _dispute("d-resolved", "clerk", "noise", 56, outcome="已化解"),
    _dispute("d-resolved-jc", "clerk", "loan", 58, outcome="已化解",
             sign_agreement={**_SIGN, "want_confirmation": True}),
    _dispute("d-resolved-village", "grassroots", "dog", 50, tier="simple", outcome="已化解",
             dispatch={**_ORD, "handling_dept": "grassroots_mediator", "assign_deadline": ("day+", 7)}),
    _dispute("d-unresolved", "clerk", "rent", 34, outcome="未化解（已告知救济途径）",
             mediate={"mediation_result": "no_agreement", "mediation_sessions": 2},
             terminate_mediation={"guided_channel": "litigation"}),
    _dispute("d-arbitration", "clerk", "wages", 33, outcome="调解期满转劳动仲裁", mediate=WAIT,
             dispatch={**_ORD, "handling_dept": "dept_hrss", "mediation_type": "labour",
                       "assign_deadline": ("day+", 20)}),
    _dispute("d-court", "clerk", "traffic", 55, outcome="调解不成退回法院", mediate=WAIT,
             register={"channel": "court_referral"},
             dispatch={**_ORD, "mediation_type": "court_referred", "assign_deadline": ("day+", 45)},
             limit_warning={}, ask_extension={"all_parties_consent": False}),
    _dispute("d-not-accepted", "clerk", "loan", 31, outcome="不予受理（已由其他机关受理）",
             screen={"mediation_consent": "accepted_elsewhere", "escalation_risk": "none", "tier": "simple"}),
    _dispute("d-withdrawn", "clerk", "rent", 29, outcome="当事人撤回",
             mediate={"mediation_result": "withdrawn", "mediation_sessions": 1}),
    _dispute("d-self-settled", "clerk", "dog", 24, outcome="当事人自行和解",
             mediate={"mediation_result": "self_settled", "mediation_sessions": 1}),
    _dispute("d-labour-remedy", "clerk", "wages", 48, outcome="协议未履行转劳动仲裁或支付令",
             dispatch={**_ORD, "handling_dept": "dept_hrss", "mediation_type": "labour"},
             revisit_check=[{"performance_status": "not_performed"}], urge_performance={"urge_result": "refused"},
             advise_remedy={"remedy_advised": "labour_arbitration"}),
    _dispute("d-guided", "clerk", "consumer", 27, outcome="不同意调解（已引导其他途径）",
             screen={"mediation_consent": "refused", "escalation_risk": "none", "tier": "simple"},
             guide_channels={"guided_channel": "litigation"}),
    _dispute("d-police", "clerk", "family", 22, outcome="转公安依法处理",
             screen={"mediation_consent": "agree", "escalation_risk": "high", "tier": "ordinary"},
             report_police={"police_disposition": "police_case"}),
    _dispute("d-not-performed", "clerk", "property", 52, outcome="协议未履行（已告知诉讼或执行）",
             revisit_check=[{"performance_status": "not_performed"}], urge_performance={"urge_result": "refused"},
             advise_remedy={"remedy_advised": "lawsuit"}),
    Scenario("d-relapse", "dispute", "clerk", "noise", 38, {
        "register": {"channel": "phone"}, "screen": {**_AGREE, "tier": "ordinary"}, "dispatch": dict(_ORD),
        "mediate": {"mediation_result": "agreement"}, "sign_agreement": dict(_SIGN),
        "satisfaction_call": {"satisfaction": "basically_satisfied"},
        "revisit_check": [{"performance_status": "relapsed"}]}, outcome="纠纷反弹（另立关联案件）",
        # the relapse is a new case, mediated again; its first revisit done, it waits for the next
        child=_dispute("d-relapse-new", "clerk", "noise", 0, revisit_check=[{"performance_status": "performing"}])),
    # -- dispute, open at each stage
    _dispute("d-at-screen", "clerk", "medical", 0.3, stop="screen"),
    _dispute("d-at-dispatch", "township", "boundary", 0.6, stop="dispatch"),
    _dispute("d-to-village", "clerk", "boundary", 1.2, tier="simple", stop="mediate",
             dispatch={**_ORD, "handling_unit": VILLAGE, "handling_dept": "grassroots_mediator",
                       "assign_deadline": ("day+", 10)}),
    _dispute("d-village-up", "grassroots", "rent", 2.2, tier="simple", stop="mediate",
             dispatch=[{**_ORD, "dispatch_route": "escalate"}, dict(_ORD)],
             accept_escalation={"tier": "ordinary"}),
    _dispute("d-county-up", "clerk", "medical", 1.5, tier="major", stop="accept_escalation",
             dispatch={**_ORD, "dispatch_route": "escalate"}),
    _dispute("d-joint", "clerk", "wages", 2.0, tier="complex", stop="joint_part",
             dispatch={**_ORD, "handling_dept": "dept_hrss", "mediation_type": "labour"},
             organize_joint={"co_depts": ["dept_union", "dept_justice"]}, joint_part=[{}]),
    _dispute("d-major", "clerk", "expropriation", 0.8, tier="major", stop="mediate"),
    _dispute("d-township", "township", "traffic", 2.5, stop="mediate"),
    _dispute("d-at-feedback", "clerk", "consumer", 2.0, stop="feedback"),
    _dispute("d-revisit-due", "clerk", "family", 14, revisit_check=[{"performance_status": "performing"}]),
]

# Late on purpose: the mediation task at each step of the ladder (its 交办期限 chosen so it is that late now).
LADDER_SCENARIOS = [
    (1, "d-late-prompt", "clerk", "loan", None, None),
    (2, "d-late-reminder", "clerk", "property", None, None),
    (3, "d-late-notice", "clerk", "noise", "dept_housing", "closed"),
    (3, "d-late-answered", "clerk", "dog", VILLAGE, "answered"),
    (4, "d-late-listed", "clerk", "medical", None, None),
]

SCENARIOS += [
    # -- petitions
    _petition("p-resolved", "petition_road", 52, outcome="已化解（回访稳定）"),
    _petition("p-final-reply", "petition_pension", 59, outcome="答复意见终结（未申请复查）",
              pt_reply={"handle_opinion": "explain"}, pt_rate_satisfaction={"satisfaction": "dissatisfied"},
              pt_await_review=WAIT),
    _petition("p-final-review", "petition_demolition", 60, outcome="复查意见终结（未申请复核）",
              pt_reply={"handle_opinion": "reject"}, pt_rate_satisfaction={"satisfaction": "dissatisfied"},
              pt_first_review={"review_opinion": "uphold"}, pt_await_second_review=WAIT),
    _petition("p-second-review", "petition_pension", 48, outcome="复核终结（不再受理）",
              pt_reply={"handle_opinion": "reject"}, pt_rate_satisfaction={"satisfaction": "dissatisfied"},
              pt_first_review={"review_opinion": "uphold"},
              pt_second_review={"second_review_opinion": "uphold"}),
    _petition("p-reopened", "petition_heating", 46, outcome="高风险另立化解案件",
              pt_revisit=[{"petitioner_mood": "resentful", "rebound_risk": "high"}],
              pt_risk_meeting={"reopen_case": True},
              child=_dispute("p-reopened-dispute", "clerk", "petition_heating", 0,
                             revisit_check=[{"performance_status": "performed"}])),
    _petition("p-political-legal", "petition_police", 20, outcome="涉法涉诉已由政法机关依法处理",
              pt_forward={"forward_decision": "political_legal"}),
    _petition("p-discipline", "petition_official", 18, outcome="检举控告转纪检监察",
              pt_forward={"forward_decision": "discipline"}),
    _petition("p-duplicate", "petition_heating", 25, outcome="不予受理（同一事项正在办理）",
              pt_accept={"accept_decision": "duplicate"}),
    _petition("p-suggestion", "petition_school", 30, outcome="意见建议已答复",
              pt_classify={"petition_class": "suggestion"}, pt_study_suggestion={"suggestion_adopted": "adopted"}),
    _petition("p-statutory", "petition_pension", 21, outcome="告知依法定途径解决",
              pt_classify={"petition_class": "claim_statutory"}, pt_guide_statutory={"statutory_route": "arbitration"}),
    _petition("p-at-competence", "petition_heating", 1.5, stop="pt_competence"),
    _petition("p-at-handle", "petition_demolition", 12, stop="pt_handle",
              pt_handle=[{"handle_action": "extend"}], pt_approve_extension={"handling_extended": True}),
    _petition("p-at-review", "petition_demolition", 40, stop="pt_first_review",
              pt_reply={"handle_opinion": "reject"}, pt_rate_satisfaction={"satisfaction": "dissatisfied"}),
    # -- judicial confirmation on its own
    _jc("j-confirmed", "loan", 40, outcome="确认有效"),
    _jc("j-not-applied", "rent", 26, outcome="未申请司法确认",
        jc_joint_application={"jc_application": "refused"}, jc_advise_lawsuit={"jc_advice_method": "in_person"}),
    _jc("j-not-accepted", "family", 24, outcome="不予受理",
        jc_accept={"jc_accept_decision": "not_accepted", "jc_not_accepted_reason": "personal_status"}),
    _jc("j-rejected", "consumer", 35, outcome="驳回申请",
        jc_issue_ruling={"jc_ruling": "rejected", "jc_reject_reason": "unclear"},
        jc_rejected_followup={"jc_rejected_next": "sue"}),
    _jc("j-deemed-withdrawn", "medical", 32, outcome="按撤回申请处理",
        jc_review={"jc_review_decision": "supplement", "jc_supplement_days": 7,
                   "jc_supplement_items": "补充提交医疗费票据原件和双方身份证明。"}, jc_submit_supplement=WAIT),
    _jc("j-withdrawn", "dog", 20, outcome="撤回申请", jc_issue_ruling={"jc_ruling": "withdrawn"}),
    _jc("j-enforcement", "traffic", 44, outcome="已申请强制执行",
        jc_track_performance={"jc_performance": "not_performed"}),
    _jc("j-at-review", "wages", 3, stop="jc_review"),
    _jc("j-at-application", "noise", 1, stop="jc_joint_application"),
]


# ---------------------------------------------------------------- driving a scenario

_LEVEL_OF = {step.name: step.level for step in ladder.LADDER}


def _late_plan(level: int, now: datetime, rt) -> tuple[date, datetime]:
    """A 交办期限 and a moment to dispatch so that, now, the mediation task stands at ladder `level`."""
    today = now.astimezone(CHINA_TZ).date()
    for offset in range(6, -40, -1):
        deadline = today + timedelta(days=offset)
        dispatched = datetime.combine(deadline - timedelta(days=6), time(11, 0), CHINA_TZ)
        moments = ladder.ladder_moments(dispatched, rt.calendar.natural_days_dt(0, deadline), rt)
        reached = max([_LEVEL_OF[name] for name, moment in moments.items() if moment <= now], default=0)
        if reached == level:
            return deadline, dispatched
    raise DemoError(f"no 交办期限 puts a task at ladder step {level} now")


def _spec(task) -> str:
    """The task's id in the process (a multi-instance task's copies are named "<id> [child]")."""
    return task.spec_name.split(" [")[0]


class _Walker:
    def __init__(self, session: Session, now: datetime, rng: random.Random):
        self.session, self.now, self.rng = session, now, rng
        self.rt = runtime.of(session)
        self.actors = {name: users.load_actor(session, name) for name in DEMO_USERS
                       if session.scalar(select(UserModel.id).where(UserModel.username == name)) is not None}
        self.number = 0

    def actor_for(self, task) -> users.Actor:
        for actor in self.actors.values():
            if tasks.can_act(self.session, actor, task):
                return actor
        raise DemoError(f"no demo user may act on {task.spec_name} ({task.title}) of case {task.case_id}")

    def office_hours(self, start: datetime) -> datetime:
        """A case came in during office hours on a working day: `start`'s day (or the working day before, when
        that is today before opening time), some time between 8:40 and 15:40, and never after now."""
        day = start.astimezone(CHINA_TZ).date()
        today = self.now.astimezone(CHINA_TZ).date()
        while not self.rt.calendar.is_workday(day) or (
                day == today and self.now.astimezone(CHINA_TZ).time() < time(9, 30)):
            day -= timedelta(days=1)
        moment = datetime.combine(day, time(8, 40), CHINA_TZ) + timedelta(minutes=self.rng.randint(0, 420))
        return min(moment, self.now - timedelta(minutes=50))

    def _next_moment(self, clock: Clock, low: float, high: float) -> datetime:
        """The next step, some hours on, inside office hours on a working day, never after now."""
        moment = clock.now() + timedelta(hours=self.rng.uniform(low, high))
        local = moment.astimezone(CHINA_TZ)
        if local.hour >= 18 or local.hour < 8 or not self.rt.calendar.is_workday(local.date()):
            day = local.date() + timedelta(days=1) if local.hour >= 8 else local.date()
            while not self.rt.calendar.is_workday(day):
                day += timedelta(days=1)
            moment = datetime.combine(day, time(8, 30), CHINA_TZ) + timedelta(minutes=self.rng.randint(0, 150))
        return min(moment, self.now - timedelta(minutes=5))

    def _fire_next_timer(self, case: CaseModel, clock: Clock) -> bool:
        due = self.session.scalar(select(func.min(TimerModel.due_at)).where(
            TimerModel.case_id == case.id, TimerModel.kind == "bpmn", TimerModel.fired_at.is_(None)))
        if due is None:
            return False
        due = due if due.tzinfo else due.replace(tzinfo=timezone.utc)
        if due > self.now:
            return False
        moment = max(clock.now(), due + timedelta(minutes=1))
        clock.set(moment)
        fire_due_timers(self.session, moment)
        return True

    def run(self, sc: Scenario, start: datetime, case: CaseModel | None = None) -> CaseModel:
        """Open the scenario's case at `start` (or take up `case`, a linked case the story opened) and walk it."""
        self.number += 1
        story = STORIES[sc.story]
        clock = Clock(fixed=start)
        self.rt.clock = clock
        gap = (0.3, 0.8) if sc.ladder else (1.5, 22)
        if case is None:
            try:
                case = cases.start_case(self.session, sc.process, {}, self.actors[sc.by])
            except CaseError as exc:
                raise DemoError(f"{sc.key}: cannot open {sc.process}: {exc.message}") from exc
        remaining = {spec: (list(v) if isinstance(v, list) else v) for spec, v in sc.steps.items()}
        for _ in range(120):
            self.session.expire_all()
            case = self.session.get(CaseModel, case.id)
            if case.status == "closed":
                break
            open_tasks = sorted((t for t in cases.open_tasks(self.session, case.id) if t.kind == "bpmn"),
                                key=lambda t: (t.created_at, t.id))
            todo = [t for t in open_tasks if remaining.get(_spec(t)) != WAIT]
            if not todo:
                if self._fire_next_timer(case, clock):
                    continue
                break
            task = todo[0]
            plan = remaining.get(_spec(task), {})
            if isinstance(plan, list):
                if not plan and sc.stop == _spec(task):
                    break
                values = plan.pop(0) if plan else {}
            else:
                if sc.stop == _spec(task):
                    break
                values = plan
            first = not self.session.scalar(select(func.count()).select_from(CaseEventModel).where(
                CaseEventModel.case_id == case.id, CaseEventModel.type == "task_completed"))
            clock.set(self._next_moment(clock, *((0.1, 0.6) if first else gap)))  # registered while they wait
            self._complete(sc, case, task, story, values, clock)
        self._check_end(sc, case)
        if sc.child is not None:
            linked = self.session.scalars(select(CaseModel).where(CaseModel.linked_case_id == case.id)).first()
            if linked is None:
                raise DemoError(f"{sc.key}: no linked case was opened")
            self.run(sc.child, max(clock.now(), linked.opened_at), linked)
            self.rt.clock = clock
        return case

    def _complete(self, sc: Scenario, case: CaseModel, task, story: Story, values: dict, clock: Clock) -> None:
        actor = self.actor_for(task)
        day = clock.now().astimezone(CHINA_TZ).date()
        ctx = _Ctx(self.number, day, actor.display_name or actor.username, case.org_unit.name)
        texts = _texts(story, ctx)
        texts["received_date"] = case.opened_at.astimezone(CHINA_TZ).date().isoformat()  # the day they came
        if values.get("channel") not in REFERRALS:  # a 文号 only for what another body sent
            texts.pop("referral_no")
        form = tasks.task_form(self.session, task)
        ids = {f["id"] for f in form} | {f["group"] for f in form if f.get("group")}
        missing = sorted(set(values) - ids)
        if missing:
            raise DemoError(f"{sc.key}: the form of {task.spec_name} ({task.title}) has no field "
                            f"{', '.join(missing)}")
        data = {}
        if any(f.get("group") == "parties" for f in form):
            data["parties"] = values.get("parties") or _parties(story, self.number)
        for f in form:
            if f.get("readonly") or f.get("group"):
                continue
            if f["id"] in values:
                value = values[f["id"]]
                if isinstance(value, tuple):  # ("day+", n): a date n days after the case began
                    value = (case.opened_at.astimezone(CHINA_TZ).date() + timedelta(days=value[1])).isoformat()
            else:
                value = _value_for(f, story, ctx, texts)
            if value is not None:
                data[f["id"]] = value
        try:
            tasks.claim_task(self.session, task.id, actor)
            tasks.complete_task(self.session, task.id, data, actor)
        except CaseError as exc:
            self.session.rollback()
            raise DemoError(f"{sc.key}: {task.spec_name} ({task.title}) refused for {actor.username}: "
                            f"{exc.message} {exc.details or ''} (sent {data})") from exc

    def _check_end(self, sc: Scenario, case: CaseModel) -> None:
        if sc.outcome is not None:
            if case.status != "closed" or case.outcome != sc.outcome:
                at = ", ".join(t.spec_name for t in cases.open_tasks(self.session, case.id)) or "a timer"
                raise DemoError(f"{sc.key}: meant to end as {sc.outcome}, is {case.status} "
                                f"({case.outcome or 'at ' + at})")
        elif case.status == "closed":
            raise DemoError(f"{sc.key}: meant to stay open, closed as {case.outcome}")
        elif sc.stop and sc.stop not in {_spec(t) for t in cases.open_tasks(self.session, case.id)}:
            at = ", ".join(t.spec_name for t in cases.open_tasks(self.session, case.id)) or "no task"
            raise DemoError(f"{sc.key}: meant to wait at {sc.stop}, is at {at}")

    def follow_up(self, sc: Scenario, case: CaseModel) -> None:
        """Answer the 督办单 of a late case (and, for `closed`, review it: 销号)."""
        specs = ["supervision_notice"] + (["supervision_notice_review"] if sc.follow_up == "closed" else [])
        for spec in specs:
            self.session.expire_all()
            found = [t for t in cases.open_tasks(self.session, case.id) if t.spec_name == spec]
            if not found:
                raise DemoError(f"{sc.key}: no {spec} task to act on (ladder step not reached?)")
            task = found[0]
            created = task.created_at if task.created_at.tzinfo else task.created_at.replace(tzinfo=timezone.utc)
            self.rt.clock = Clock(fixed=min(self.now, max(created + timedelta(minutes=20),
                                                         self.now - timedelta(hours=3))))
            today = self.rt.clock.now().astimezone(CHINA_TZ).date()
            data = ({"decision": "close", "review_note": "答复属实，整改措施到位，同意销号。"} if spec.endswith("_review")
                    else {"reason": "承办调解员同时办理多起群体性纠纷，调解安排不及时。",
                          "measures": "已调整承办人员，约定双方本周内再次调解，每日报告进展。",
                          "new_date": (today + timedelta(days=3)).isoformat()})
            actor = self.actor_for(task)
            try:
                tasks.claim_task(self.session, task.id, actor)
                tasks.complete_task(self.session, task.id, data, actor)
            except CaseError as exc:
                self.session.rollback()
                raise DemoError(f"{sc.key}: {spec} refused for {actor.username}: {exc.message}") from exc


def _ladder_scenarios(now: datetime, rt) -> list[tuple[Scenario, datetime]]:
    out = []
    for level, key, by, story, unit, follow in LADDER_SCENARIOS:
        deadline, dispatched = _late_plan(level, now, rt)
        dispatch = {**_ORD, "assign_deadline": deadline.isoformat()}
        tier = "ordinary"
        if unit and unit.startswith("dept_"):  # a simple matter handled by a resident department
            dispatch.update(handling_dept=unit)
            tier = "simple"
        elif unit:  # handed down (交办) to a village committee
            dispatch.update(handling_unit=unit, handling_dept="grassroots_mediator")
            tier = "simple"
        sc = _dispute(key, by, story, 0, tier=tier, dispatch=dispatch, stop="mediate")
        sc.ladder, sc.follow_up = level, follow
        out.append((sc, dispatched - timedelta(hours=2)))
    return out


def _deploy(session: Session, files: dict[str, bytes]) -> list:
    """Deploy the processes, the called ones (no call activity) first: a caller deployed in the same batch as
    its called process records no called version, and the next deploy would make it a new version."""
    leaves = {name: xml for name, xml in files.items() if b"callActivity" not in xml}
    callers = {name: xml for name, xml in files.items() if name not in leaves}
    results = processes.deploy(session, leaves, users.SYSTEM) if leaves else []
    results += processes.deploy(session, callers, users.SYSTEM) if callers else []
    return sorted(results, key=lambda r: r.process_id)


def load_demo(session: Session, processes_dir: str, seed: int = 20261123) -> str:
    """Create (once) the demo center, users and cases. Returns a one-line summary. Raises DemoError when the
    story and the processes disagree (what refused, which field, which scenario)."""
    _ensure_directory(session)
    deployed = _deploy(session, processes.read_directory(processes_dir))
    added_users = _ensure_users(session)
    if session.scalar(select(func.count()).select_from(CaseModel)) > 0:
        return f"demo already loaded; {added_users} users added; processes: " + \
            ", ".join(f"{d.process_id} v{d.version}" for d in deployed)
    rt = runtime.of(session)
    real_clock = rt.clock
    now = real_clock.now()
    walker = _Walker(session, now, random.Random(seed))
    planned = [(sc, now - timedelta(days=sc.days_ago)) for sc in SCENARIOS] + _ladder_scenarios(now, rt)
    planned.sort(key=lambda item: item[1])  # the center's days in order
    late = []
    try:
        for sc, start in planned:
            case = walker.run(sc, walker.office_hours(start) if not sc.ladder else start)
            if sc.follow_up:
                late.append((sc, case))
        rt.clock = Clock(fixed=now)
        fired = fire_due_timers(session, now)
        for sc, case in late:
            walker.follow_up(sc, case)
    finally:
        rt.clock = real_clock
    return (f"demo loaded: {len(planned)} cases, {added_users} users (password {DEMO_PASSWORD!r}), "
            f"{fired.fired} timers fired up to now")
