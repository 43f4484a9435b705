"""Bulk loading for the scale and timer sections: clone real cases row by row into many cases.

Loading 100,000 cases one command at a time would take an hour, so the bench opens a *sample* of cases
through the real services (start_case / complete_task — every row the engine writes, exactly as it writes it)
and then copies those rows in bulk:

* `cases`: new id, a new case code (same area/level/channel, the next numbers of that area's yearly
  sequence, a valid check digit; `case_sequences` is moved past them so later start_case calls continue);
  `workflow_json` with every SpiffWorkflow task UUID replaced by a fresh one (the same mapping is used for
  the case's `tasks`, `task_candidates`, `timers` and `events`, so a clone can be opened and worked on);
* `tasks` / `task_candidates` / `timers` / `events`: copied with the new ids (a candidate row's copy of the
  case code becomes the clone's); the event hash chain is recomputed so `verify` holds on a clone;
* the case's and its tasks' times (opened, closed, created, due, claimed, ladder timers) are shifted by a
  per-clone offset into the past, so lists sort over a realistic spread. BPMN timer rows and the event times
  keep the sample's moments: the first must equal the due moment inside workflow_json, the second let
  `history.verify_case` replay a clone to exactly its stored workflow.

The rows are written with SQLAlchemy Core executemany in chunks (one transaction per chunk).
"""
from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from datetime import timedelta

from sqlalchemy import func, select, text, update

from bench.common import log
from engine.chain import GENESIS, _event_hash
from engine.clock import CHINA_TZ
from engine.models import (NO_DUE_DATE, CaseEventModel, CaseModel, CaseSequenceModel, TaskCandidateModel, TaskModel,
                           TimerModel)
from engine.services.cases import check_digit

UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

CASES = CaseModel.__table__
TASKS = TaskModel.__table__
CANDIDATES = TaskCandidateModel.__table__
TIMERS = TimerModel.__table__
EVENTS = CaseEventModel.__table__
SEQUENCES = CaseSequenceModel.__table__


class _Template:
    """One sample case with everything needed to stamp out copies quickly."""

    def __init__(self, case: dict, tasks: list[dict], candidates: list[dict], timers: list[dict],
                 events: list[dict]):
        self.case = case
        self.tasks = tasks
        self.candidates = candidates
        self.timers = timers
        self.events = events
        self.parts = UUID_RE.split(case["workflow_json"])   # text between UUIDs
        self.uuids = UUID_RE.findall(case["workflow_json"])  # the UUIDs, in order
        self.distinct = sorted(set(self.uuids) | {t["id"] for t in tasks})
        self.payload_text = [json.dumps(e["payload"], ensure_ascii=False) for e in events]
        self.prefix = case["code"][:8]   # area(6) + level + channel
        self.area = case["code"][:6]

    def workflow_json(self, mapping: dict[str, str]) -> str:
        parts, uuids = self.parts, self.uuids
        out = [parts[0]]
        for i, u in enumerate(uuids):
            out.append(mapping[u])
            out.append(parts[i + 1])
        return "".join(out)


def _load_templates(conn, case_ids: list[int]) -> list[_Template]:
    by_case = defaultdict(lambda: {"tasks": [], "candidates": [], "timers": [], "events": []})
    cases = [dict(r._mapping) for r in conn.execute(select(CASES).where(CASES.c.id.in_(case_ids)))]
    for r in conn.execute(select(TASKS).where(TASKS.c.case_id.in_(case_ids))):
        by_case[r.case_id]["tasks"].append(dict(r._mapping))
    task_case = {t["id"]: cid for cid, d in by_case.items() for t in d["tasks"]}
    if task_case:
        for r in conn.execute(select(CANDIDATES).where(CANDIDATES.c.task_id.in_(list(task_case)))):
            by_case[task_case[r.task_id]]["candidates"].append(dict(r._mapping))
    for r in conn.execute(select(TIMERS).where(TIMERS.c.case_id.in_(case_ids))):
        by_case[r.case_id]["timers"].append(dict(r._mapping))
    for r in conn.execute(select(EVENTS).where(EVENTS.c.case_id.in_(case_ids)).order_by(EVENTS.c.case_id, EVENTS.c.seq)):
        by_case[r.case_id]["events"].append(dict(r._mapping))
    return [_Template(c, **by_case[c["id"]]) for c in cases]


def _remap(text_: str, mapping: dict[str, str]) -> str:
    return UUID_RE.sub(lambda m: mapping.get(m.group(0), m.group(0)), text_)


def _shift(value, delta):
    return value - delta if value is not None else None


def clone_cases(engine, template_ids: list[int], total: int, rng: random.Random, *,
                open_spread_days: float = 60.0, closed_spread_days: float = 365.0,
                chunk: int = 2000, shift: bool = True) -> list[int]:
    """Add clones of `template_ids` until the database holds `total` cases in all. Returns the new case ids."""
    with engine.connect() as conn:
        existing = conn.execute(select(func.count()).select_from(CASES)).scalar()
        templates = _load_templates(conn, template_ids)
        next_case = (conn.execute(select(func.max(CASES.c.id))).scalar() or 0) + 1
        next_timer = (conn.execute(select(func.max(TIMERS.c.id))).scalar() or 0) + 1
        next_event = (conn.execute(select(func.max(EVENTS.c.id))).scalar() or 0) + 1
        seqs = {(r.area_code, r.year): r.last_value for r in conn.execute(select(SEQUENCES))}
    wanted = total - existing
    if wanted <= 0 or not templates:
        return []
    log(f"cloning {wanted:,} cases from {len(templates)} sampled cases …")
    seq_start = dict(seqs)
    new_ids: list[int] = []
    rows = {"cases": [], "tasks": [], "candidates": [], "timers": [], "events": []}
    hexes = "%032x"
    done = 0

    def flush():
        with engine.begin() as conn:
            if rows["cases"]:
                conn.execute(CASES.insert(), rows["cases"])
            if rows["tasks"]:
                conn.execute(TASKS.insert(), rows["tasks"])
            if rows["candidates"]:
                conn.execute(CANDIDATES.insert(), rows["candidates"])
            if rows["timers"]:
                conn.execute(TIMERS.insert(), rows["timers"])
            if rows["events"]:
                conn.execute(EVENTS.insert(), rows["events"])
        for key in rows:
            rows[key] = []

    while done < wanted:
        tpl = templates[done % len(templates)]
        case = tpl.case
        closed = case["status"] == "closed"
        if shift:
            days = rng.random() * (closed_spread_days if closed else open_spread_days)
            delta = timedelta(days=days, seconds=rng.randrange(86400))
        else:
            delta = timedelta(0)
        # fresh UUIDs (version 4 layout) for every SpiffWorkflow task of this clone
        mapping = {}
        for old in tpl.distinct:
            h = hexes % rng.getrandbits(128)
            mapping[old] = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"
        opened = case["opened_at"] - delta
        year = opened.astimezone(CHINA_TZ).year
        key = (tpl.area, year)
        seq = seqs.get(key, 0) + 1
        if seq > 999_999:
            raise RuntimeError(f"case numbers for area {tpl.area} in {year} exhausted; spread over more years")
        seqs[key] = seq
        body = f"{tpl.prefix}{year}{seq:06d}"
        case_id = next_case
        next_case += 1
        new_ids.append(case_id)
        new_case = dict(case)
        new_case.update(id=case_id, code=body + check_digit(body), opened_at=opened,
                        closed_at=_shift(case["closed_at"], delta), workflow_json=tpl.workflow_json(mapping),
                        linked_case_id=None, link_kind=None, due_at=_shift(case.get("due_at"), delta),
                        responded_at=_shift(case.get("responded_at"), delta), late_at=_shift(case.get("late_at"), delta))
        rows["cases"].append(new_case)
        for t in tpl.tasks:
            row = dict(t)
            row.update(id=mapping.get(t["id"], t["id"]), case_id=case_id, created_at=t["created_at"] - delta,
                       due_at=_shift(t["due_at"], delta), claimed_at=_shift(t["claimed_at"], delta),
                       due_sort=_shift(t["due_at"], delta) or NO_DUE_DATE,
                       source_task_id=mapping.get(t["source_task_id"], t["source_task_id"]))
            rows["tasks"].append(row)
        for c in tpl.candidates:
            rows["candidates"].append({"task_id": mapping.get(c["task_id"], c["task_id"]), "role": c["role"],
                                       "org_unit_id": c["org_unit_id"], "warning_level": c["warning_level"],
                                       "created_at": c["created_at"] - delta,
                                       "due_sort": c["due_sort"] if c["due_sort"] == NO_DUE_DATE else c["due_sort"] - delta,
                                       "assignee": c["assignee"], "process_id": c["process_id"],
                                       "category": c["category"], "case_code": new_case["code"],
                                       "title": c["title"]})
        for t in tpl.timers:
            row = dict(t)
            row.update(id=next_timer, case_id=case_id, ref=_remap(t["ref"], mapping), claimed_by=None,
                       claimed_until=None, fired_at=_shift(t["fired_at"], delta),
                       due_at=t["due_at"] - delta if t["kind"] != "bpmn" else t["due_at"])
            next_timer += 1
            rows["timers"].append(row)
        prev = GENESIS
        for e, payload_text in zip(tpl.events, tpl.payload_text):
            payload = json.loads(_remap(payload_text, mapping)) if "-" in payload_text else e["payload"]
            at = e["at"]  # unshifted: a replay of the clone must reproduce its workflow exactly
            task_id = mapping.get(e["task_id"], e["task_id"]) if e["task_id"] else None
            digest = _event_hash(prev, e["seq"], at, e["actor"], e["type"], task_id, e["task_name"], payload)
            rows["events"].append({"id": next_event, "case_id": case_id, "seq": e["seq"], "at": at,
                                   "actor": e["actor"], "type": e["type"], "task_id": task_id,
                                   "task_name": e["task_name"], "payload": payload, "prev_hash": prev,
                                   "hash": digest})
            next_event += 1
            prev = digest
        new_case["event_hash"] = prev  # the chain's tail on the case row (seq and at are the sample's)
        done += 1
        if len(rows["cases"]) >= chunk:
            flush()
            if done % (chunk * 10) == 0:
                log(f"  … {done:,} / {wanted:,}")
    flush()
    with engine.begin() as conn:
        for (area, year), last in seqs.items():
            if last == seq_start.get((area, year)):
                continue
            if (area, year) in seq_start:
                conn.execute(update(SEQUENCES).where(SEQUENCES.c.area_code == area, SEQUENCES.c.year == year)
                             .values(last_value=last))
            else:
                conn.execute(SEQUENCES.insert().values(area_code=area, year=year, last_value=last))
        if engine.dialect.name == "postgresql":
            for table in ("cases", "timers", "events"):
                conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                  f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"))
    return new_ids


def add_pending_timers(engine, case_ids: list[int], count: int, rng: random.Random, now, *,
                       min_days: float = 30, max_days: float = 365, chunk: int = 20_000) -> None:
    """Pending timer rows far in the future (nothing due), attached to `case_ids`: the idle-tick load."""
    with engine.connect() as conn:
        next_timer = (conn.execute(select(func.max(TIMERS.c.id))).scalar() or 0) + 1
    batch = []
    for i in range(count):
        due = now + timedelta(days=min_days + rng.random() * (max_days - min_days))
        batch.append({"id": next_timer + i, "case_id": case_ids[i % len(case_ids)], "kind": "bpmn",
                      "name": "基准：远期计时器 / bench idle timer", "ref": f"bench-idle-{i}", "due_at": due,
                      "claimed_by": None, "claimed_until": None, "fired_at": None})
        if len(batch) >= chunk:
            with engine.begin() as conn:
                conn.execute(TIMERS.insert(), batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(TIMERS.insert(), batch)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('timers', 'id'), (SELECT MAX(id) FROM timers))"))
