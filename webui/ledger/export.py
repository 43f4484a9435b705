"""The ledger as a file: CSV (UTF-8 with a BOM, so Excel reads the Chinese) or XLSX (openpyxl, write-only),
with Chinese column headers, written row by row from engine.services.ledger.export_rows."""
from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime

from engine.clock import CHINA_TZ
from engine.models import OUTCOME_CLASSES
from engine.services.timers import LEVEL_NAMES

HEADERS = ("案件编号", "标题", "当事人", "纠纷类别", "来源渠道", "办理层级", "承办单位", "当前环节", "办理人",
           "受理时间", "办理期限", "剩余天数（负数为逾期天数）", "预警等级", "状态", "办理结果", "结果类别", "办结时间")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
STATUS = {"open": "在办", "closed": "已办结"}


def _moment(value: datetime | None) -> str:
    return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M") if value else ""


def line(row, now: datetime, labels: dict) -> list:
    """One exported line: values staff read (labels, China time), no ids."""
    case = row.case
    days = row.days_left(now)
    return [case.code, row.title, row.party_name, labels["category"].get(case.category, case.category or ""),
            labels["channel"].get(case.channel, case.channel or ""), labels["tier"].get(case.tier, case.tier or ""),
            row.unit_name, "、".join(row.steps), "、".join(row.holders), _moment(case.opened_at),
            _moment(row.due_at), "" if days is None else days, LEVEL_NAMES.get(row.warning_level) or "",
            STATUS.get(case.status, case.status), case.outcome or "",
            OUTCOME_CLASSES.get(case.outcome_class or "", ""), _moment(case.closed_at)]


def csv_chunks(rows: Iterable, now: datetime, labels: dict) -> Iterator[str]:
    """The CSV, a few hundred lines per chunk (the rows are read as the chunks are sent)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(HEADERS)
    for i, row in enumerate(rows, 1):
        writer.writerow(line(row, now, labels))
        if i % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def xlsx_file(rows: Iterable, now: datetime, labels: dict):
    """The XLSX in a temporary file (a workbook is a zip: it is whole only at its end). openpyxl's write-only
    mode keeps no rows in memory; the caller streams the file and closes it."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("台账")
    sheet.append(list(HEADERS))
    for row in rows:
        sheet.append(line(row, now, labels))
    out = tempfile.TemporaryFile()
    workbook.save(out)
    out.seek(0)
    return out


def file_chunks(out, size: int = 64 * 1024) -> Iterator[bytes]:
    try:
        while chunk := out.read(size):
            yield chunk
    finally:
        out.close()
