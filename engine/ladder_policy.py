"""The supervision ladder's policy (domain.md §4, issue 20 §4): per case tier (简单 / 一般 / 复杂 / 重大) whether the
ladder runs and its steps (提示 / 催办 / 督办 / 挂牌督办), each at an offset before or after the task's due date in
natural days, working days or hours; and per kind of unit holding the late task, who answers (at that unit) and
who reviews (at the supervising center one level up).

The policy is a plain JSON document: config/org.toml [ladder] gives the default one (every tier the same, today's
steps: from_settings), an administrator saves others in the console (services/settings_admin.py, kept in
setting_versions). `parse` checks a document and names the field that is wrong; `step_moment` says when a step
falls for one task. Which version a task follows is the runtime's (Runtime.ladder_policy_at).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from engine.clock import CHINA_TZ

STEPS = ("prompt", "reminder", "notice", "listing")  # in ladder order; level = position + 1
TIERS = ("simple", "ordinary", "complex", "major")
DEFAULT_TIER = "ordinary"  # a case without a tier follows 一般
DIRECTIONS = ("before", "after")  # of the due date
UNITS = ("days", "workdays", "hours")
UNIT_KINDS = ("city", "county", "township", "village", "department")  # models.OrgUnitModel.kind
ROLE_KEYS = ("notice", "listing")  # who answers at the holding unit, who reviews at the unit above
MAX_AMOUNT = {"days": 365, "workdays": 250, "hours": 24 * 365}


class PolicyError(ValueError):
    """A policy document that cannot be used: `errors` maps the field (e.g. tiers.simple.steps.1.amount) to its
    message ids with their arguments: [(message id, {arguments})]."""

    def __init__(self, errors: dict[str, list[tuple[str, dict]]]):
        super().__init__("; ".join(f"{k}: {m[0][0]}" for k, m in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class StepRule:
    step: str  # prompt | reminder | notice | listing
    direction: str  # before | after the due date
    amount: int
    unit: str  # days | workdays | hours
    two_thirds: bool = False  # before the due date: or when 2/3 of the period have passed, whichever is earlier

    @property
    def level(self) -> int:
        return STEPS.index(self.step) + 1

    def nominal_hours(self) -> int:
        """The offset in hours from the due date, a working day counted as a day: to check the steps increase."""
        hours = self.amount * (1 if self.unit == "hours" else 24)
        return -hours if self.direction == "before" else hours

    def as_json(self) -> dict:
        return {"step": self.step, "direction": self.direction, "amount": self.amount, "unit": self.unit,
                "two_thirds": self.two_thirds}


@dataclass(frozen=True)
class TierPolicy:
    enabled: bool
    steps: tuple[StepRule, ...]


@dataclass(frozen=True)
class LadderPolicy:
    enabled: bool  # the ladder at all
    tiers: dict[str, TierPolicy]
    roles: dict[str, dict[str, str]]  # unit kind -> {"notice": role, "listing": role}

    def tier(self, tier: str | None) -> TierPolicy:
        return self.tiers.get(tier or DEFAULT_TIER) or self.tiers[DEFAULT_TIER]

    def roles_for(self, unit_kind: str) -> dict[str, str]:
        return self.roles.get(unit_kind) or self.roles["county"]

    def role_names(self) -> set[str]:
        return {role for pair in self.roles.values() for role in pair.values()}

    def as_json(self) -> dict:
        return {"enabled": self.enabled,
                "tiers": {name: {"enabled": t.enabled, "steps": [s.as_json() for s in t.steps]}
                          for name, t in self.tiers.items()},
                "roles": {kind: dict(pair) for kind, pair in self.roles.items()}}


def from_settings(settings) -> dict:
    """The policy config/org.toml [ladder] describes (EngineSettings' ladder fields), the same for every tier:
    提示 at 2/3 of the period or N days before the deadline (whichever is earlier), 催办 at the deadline, 督办单 N
    days after it, 挂牌督办 N working days after it; a tier turned off in [ladder.tiers] is off."""
    steps = [{"step": "prompt", "direction": "before", "amount": settings.ladder_reminder_days_before,
              "unit": "days", "two_thirds": True},
             {"step": "reminder", "direction": "after", "amount": 0, "unit": "days", "two_thirds": False},
             {"step": "notice", "direction": "after", "amount": settings.ladder_notice_days_after, "unit": "days",
              "two_thirds": False},
             {"step": "listing", "direction": "after", "amount": settings.ladder_listing_workdays_after,
              "unit": "workdays", "two_thirds": False}]
    default = {"notice": settings.ladder_notice_role, "listing": settings.ladder_listing_role}
    return {"enabled": settings.ladder_enabled,
            "tiers": {tier: {"enabled": settings.tier_ladder.get(tier, True), "steps": [dict(s) for s in steps]}
                      for tier in TIERS},
            "roles": {kind: dict(settings.ladder_roles.get(kind) or default) for kind in UNIT_KINDS}}


def _int(value, field: str, errors: dict, low: int, high: int) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value.strip())
        else:
            errors[field] = [("ladder.amount_number", {"min": low, "max": high})]
            return None
    if not low <= value <= high:
        errors[field] = [("ladder.amount_number", {"min": low, "max": high})]
        return None
    return value


def parse(document, known_roles: set[str] | None = None) -> LadderPolicy:
    """A policy document checked: every tier named, each enabled tier with at least one step, the steps in ladder
    order without repeats and strictly later one after the other, offsets whole numbers in range, roles that
    exist (`known_roles`, when given). Raises PolicyError naming every field that is wrong."""
    errors: dict[str, list[tuple[str, dict]]] = {}
    if not isinstance(document, dict):
        raise PolicyError({"policy": [("ladder.not_a_policy", {})]})
    tiers_in = document.get("tiers")
    if not isinstance(tiers_in, dict):
        raise PolicyError({"tiers": [("ladder.tiers_missing", {})]})
    unknown = sorted(set(tiers_in) - set(TIERS))
    if unknown:
        errors[f"tiers.{unknown[0]}"] = [("ladder.unknown_tier", {"tier": unknown[0]})]
    tiers: dict[str, TierPolicy] = {}
    for tier in TIERS:
        body = tiers_in.get(tier)
        where = f"tiers.{tier}"
        if not isinstance(body, dict):
            errors[where] = [("ladder.tier_missing", {"tier": tier})]
            continue
        enabled = bool(body.get("enabled", True))
        steps_in = body.get("steps")
        if not isinstance(steps_in, list):
            errors[f"{where}.steps"] = [("ladder.no_steps", {})]
            continue
        if enabled and not steps_in:
            errors[f"{where}.steps"] = [("ladder.no_steps", {})]
        steps: list[StepRule] = []
        for i, raw in enumerate(steps_in):
            at = f"{where}.steps.{i}"
            if not isinstance(raw, dict):
                errors[at] = [("ladder.not_a_step", {})]
                continue
            step, direction, unit = raw.get("step"), raw.get("direction"), raw.get("unit")
            bad = False
            if step not in STEPS:
                errors[f"{at}.step"] = [("ladder.unknown_step", {"step": str(step)})]
                bad = True
            if direction not in DIRECTIONS:
                errors[f"{at}.direction"] = [("ladder.unknown_direction", {})]
                bad = True
            if unit not in UNITS:
                errors[f"{at}.unit"] = [("ladder.unknown_unit", {})]
                bad = True
            amount = _int(raw.get("amount"), f"{at}.amount", errors, 0, MAX_AMOUNT.get(unit, 365))
            if bad or amount is None:
                continue
            two_thirds = bool(raw.get("two_thirds", False))
            if two_thirds and direction != "before":
                errors[f"{at}.two_thirds"] = [("ladder.two_thirds_before_only", {})]
                continue
            rule = StepRule(step, direction, amount, unit, two_thirds)
            if steps:
                before = steps[-1]
                if rule.level <= before.level:
                    errors[f"{at}.step"] = [("ladder.step_order", {"step": step, "before": before.step})]
                    continue
                if rule.nominal_hours() <= before.nominal_hours():
                    errors[f"{at}.amount"] = [("ladder.not_increasing", {"step": step, "before": before.step})]
                    continue
            steps.append(rule)
        tiers[tier] = TierPolicy(enabled, tuple(steps))
    roles_in = document.get("roles")
    roles: dict[str, dict[str, str]] = {}
    if not isinstance(roles_in, dict):
        errors["roles"] = [("ladder.roles_missing", {})]
    else:
        for kind in UNIT_KINDS:
            pair = roles_in.get(kind)
            if not isinstance(pair, dict):
                errors[f"roles.{kind}"] = [("ladder.roles_missing_kind", {"kind": kind})]
                continue
            roles[kind] = {}
            for key in ROLE_KEYS:
                role = pair.get(key)
                role = role.strip() if isinstance(role, str) else ""
                if not role:
                    errors[f"roles.{kind}.{key}"] = [("field.required", {})]
                elif known_roles is not None and role not in known_roles:
                    errors[f"roles.{kind}.{key}"] = [("field.unknown_role", {"role": role})]
                roles[kind][key] = role
        extra = sorted(set(roles_in) - set(UNIT_KINDS))
        if extra:
            errors[f"roles.{extra[0]}"] = [("ladder.unknown_kind", {"kind": str(extra[0])})]
    if errors:
        raise PolicyError(errors)
    return LadderPolicy(bool(document.get("enabled", True)), tiers, roles)


# ---------------------------------------------------------------- when a step falls


def _china_day(moment: datetime) -> date:
    """The China day a deadline belongs to (a deadline at 00:00 is the day before's 24:00)."""
    return (moment - timedelta(seconds=1)).astimezone(CHINA_TZ).date()


def step_moment(rule: StepRule, created: datetime, due: datetime, calendar) -> datetime | None:
    """When `rule`'s step falls for a task opened at `created` and due at `due`, before it is moved to a working
    day (ladder.on_working_day); None for a step before the due date that would fall before the task opened (a
    warning before there was anything to warn about). Raises CalendarError for working days in a year the
    calendar does not know."""
    if rule.direction == "after":
        if rule.unit == "days":
            return due + timedelta(days=rule.amount)
        if rule.unit == "hours":
            return due + timedelta(hours=rule.amount)
        return calendar.workdays_dt(rule.amount, due)
    if rule.unit == "days":
        moment = due - timedelta(days=rule.amount)
    elif rule.unit == "hours":
        moment = due - timedelta(hours=rule.amount)
    else:
        day, counted = _china_day(due), 0
        while counted < rule.amount:
            day -= timedelta(days=1)
            if calendar.is_workday(day):
                counted += 1
        moment = datetime.combine(day, time(23, 59, 59), CHINA_TZ) if rule.amount else due
        moment = moment.astimezone(due.tzinfo)
    if rule.two_thirds:
        two_thirds = created + (due - created) * 2 / 3
        return min(two_thirds, moment) if moment > created else two_thirds
    return moment if moment > created else None
