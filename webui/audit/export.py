"""The auditor's exports as CSV (UTF-8 with a BOM, so Excel reads the Chinese), Chinese column headers, values
people read (kinds by name, China time), written row by row as the rows are read."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from flask_babel import force_locale

from engine.clock import CHINA_TZ
from webui import labels

EVENT_HEADERS = ("时间", "案件编号", "记录序号", "记录类型", "经办人", "经办人账号", "任务", "本条哈希 (SHA-256)")
READ_HEADERS = ("时间", "查阅人", "查阅人账号", "案件编号", "查阅内容", "依据")
# What a read was (access_log.what) and the grant that allowed it (basis), as a center's staff name them.
READ_KINDS = {"case": "案件页", "events": "办理记录", "verify": "核验", "audit": "核验与回放", "diagram": "流程图",
              "receipt": "受理回执", "task": "任务页", "document": "文书", "documents": "文书列表",
              "attachments": "附件", "dossier": "导出卷宗"}
READ_BASES = {"auditor": "审计员", "admin": "管理员", "role": "本单位承办", "supervisor": "上级督办",
              "involved": "曾经办"}


def _moment(value) -> str:
    return value.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _chunks(header: tuple, lines: Iterable[list]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for i, line in enumerate(lines, 1):
        writer.writerow(line)
        if i % 500 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def event_csv(rows: Iterable, names: dict[str, str]) -> Iterator[str]:
    """The event search (engine.services.audit.export_events) as CSV chunks."""
    def lines():
        with force_locale("zh_CN"):
            kinds = {k: str(v) for k, v in labels.EVENTS.items()}
        for row in rows:
            e = row.event
            yield [_moment(e.at), row.case_code, e.seq, kinds.get(e.type, e.type), labels.actor_name(e.actor, names),
                   e.actor or "", e.task_name or "", e.hash]
    return _chunks(EVENT_HEADERS, lines())


def read_csv(rows: Iterable, names: dict[str, str]) -> Iterator[str]:
    """The read log (engine.services.audit.export_reads) as CSV chunks."""
    def lines():
        for row in rows:
            a = row.entry
            yield [_moment(a.at), labels.actor_name(a.username, names), a.username, row.case_code or f"#{a.case_id}",
                   READ_KINDS.get(a.what, a.what), READ_BASES.get(a.basis, a.basis)]
    return _chunks(READ_HEADERS, lines())
