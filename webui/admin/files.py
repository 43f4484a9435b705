"""The administration console's files: the admin log as CSV, the user import template (XLSX / CSV) and reading an
uploaded one into rows for engine.services.users.import_users. Shape only: every rule is the engine's."""
from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta

from flask_babel import gettext

from engine.clock import CHINA_TZ
from engine.errors import InvalidData
from engine.messages import msg
from engine.services.users import ImportRow
from webui import labels
from webui.shell import role_titles

# The template's columns: (Chinese header, the field it fills). Chinese headers: the people filling it in read them.
IMPORT_COLUMNS = (("登录名", "login"), ("姓名", "display_name"), ("手机", "phone"), ("初始密码", "password"),
                  ("角色@单位", "memberships"))
EXAMPLE_ROW = ("zhang.san", "张三", "13800000000", "", "调解员@北山街道综治中心；窗口受理员@330106000")
TEMPLATE_NOTE = ("说明：每行一位用户。初始密码可留空，导入后系统生成一次性密码（仅显示一次）；每位导入的用户首次登录须设置新密码。"
                 "角色@单位：角色名称或代码，@ 后为单位名称或代码，多个用分号分隔。")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
MAX_IMPORT_BYTES = 2 * 1024 * 1024

LOG_HEADERS = ("序号", "时间", "操作人", "操作", "对象类型", "对象", "原值", "新值", "哈希")


def day_bounds(since: date | None, until: date | None) -> tuple[datetime | None, datetime | None]:
    """A period given as China-time days (both included) as UTC moments [start, end)."""
    start = datetime.combine(since, time(), CHINA_TZ) if since else None
    end = datetime.combine(until + timedelta(days=1), time(), CHINA_TZ) if until else None
    return start, end


def _json(value) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def log_csv(rows, action_names: dict[str, str]) -> str:
    """The admin log as CSV (UTF-8 with a BOM, so Excel reads the Chinese)."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(LOG_HEADERS)
    for row in rows:
        writer.writerow([row.seq, row.at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M:%S"), row.actor,
                         action_names.get(row.action, row.action), row.target_type, row.target, _json(row.old),
                         _json(row.new), row.hash])
    return buffer.getvalue()


def template(fmt: str) -> bytes:
    """The import template: the header row, one example row and the note."""
    headers = [h for h, _f in IMPORT_COLUMNS]
    if fmt == "xlsx":
        from openpyxl import Workbook

        workbook = Workbook()
        sheet = workbook.active
        sheet.title = "用户"
        sheet.append(headers)
        sheet.append(list(EXAMPLE_ROW))
        for column, width in zip("ABCDE", (16, 12, 16, 16, 48), strict=True):
            sheet.column_dimensions[column].width = width
        notes = workbook.create_sheet("说明")
        notes.append([TEMPLATE_NOTE])
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerow(EXAMPLE_ROW)
    return buffer.getvalue().encode("utf-8")


def _cells(data: bytes, filename: str) -> list[list[str]]:
    """The file's rows as text cells. Raises InvalidData when it is neither an XLSX nor a UTF-8 CSV."""
    if len(data) > MAX_IMPORT_BYTES:
        raise InvalidData(msg("import.unreadable"), {"file": [msg("field.at_most", max="2 MB")]})
    if data[:2] == b"PK" or filename.lower().endswith(".xlsx"):
        from zipfile import BadZipFile

        from openpyxl import load_workbook

        try:
            workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except (BadZipFile, KeyError, ValueError, OSError) as exc:
            raise InvalidData(msg("import.unreadable"), {"file": [msg("import.unreadable")]}) from exc
        sheet = workbook.worksheets[0]
        rows = [["" if v is None else str(v).strip() for v in row] for row in sheet.iter_rows(values_only=True)]
        workbook.close()
        return rows
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidData(msg("import.unreadable"), {"file": [msg("import.unreadable")]}) from exc
    return [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text))]


def _memberships(cell: str) -> list[tuple[str, str]] | None:
    """"角色@单位；角色@单位" as pairs; None when a part has no @."""
    pairs = []
    for part in cell.replace("；", ";").replace("，", ";").replace(",", ";").split(";"):
        part = part.strip()
        if not part:
            continue
        role, at, unit = part.replace("＠", "@").partition("@")
        if not at or not role.strip() or not unit.strip():
            return None
        pairs.append((role.strip(), unit.strip()))
    return pairs


def read_import(data: bytes, filename: str, role_names: dict[str, str] | None = None
                ) -> tuple[list[ImportRow], list[tuple[int, str, str]]]:
    """Rows to import and the shape errors found reading them: (row number, column, message); a role written as
    pages name it (`role_names`: shown name -> role) becomes its name. Raises InvalidData (unreadable file, a
    header other than the template's)."""
    cells = _cells(data, filename)
    headers = [h for h, _f in IMPORT_COLUMNS]
    if not cells or [c for c in cells[0][:len(headers)]] != headers:
        raise InvalidData(msg("import.header_invalid", columns="、".join(headers)),
                          {"file": [msg("import.header_invalid", columns="、".join(headers))]})
    rows, errors = [], []
    for number, row in enumerate(cells[1:], start=2):
        row = (row + [""] * len(headers))[:len(headers)]
        if not any(row):
            continue
        login, name, phone, password, grants = row
        pairs = _memberships(grants)
        if pairs is None:
            errors.append((number, "memberships", msg("import.membership_format")))
            continue
        pairs = [((role_names or {}).get(role, role), unit) for role, unit in pairs]
        rows.append(ImportRow(number, login, name, phone or None, password or None, pairs))
    return rows, errors


def role_names() -> dict[str, str]:
    """A role as an import file may name it: as pages show it (in the reader's language), or by its title."""
    names = {}
    for name, title in role_titles().items():
        names[str(labels.role_name(name, role_titles()))] = name
        if title:
            names[title.split(" / ")[0].strip()] = name
    return names


def column_name(field: str) -> str:
    """A column as the template heads it."""
    return {f: h for h, f in IMPORT_COLUMNS}.get(field, gettext("File"))
