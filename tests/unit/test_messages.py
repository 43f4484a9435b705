"""Engine messages by id (engine/messages.py): every id the engine uses has an English default and a zh_CN text
in the errors catalog; marshmallow's form messages come by id too."""
from __future__ import annotations

import ast
import re
import string
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from engine import forms
from engine.errors import InvalidData, NotFound
from engine.messages import MESSAGES, Message, msg

ROOT = Path(__file__).resolve().parents[2]
CATALOGS = ROOT / "webui" / "translations"
# modules whose messages are all by id (engine/specs keeps its English-only designer problems)
CONVERTED = ["services/*.py", "access.py", "casework.py", "case_codes.py", "task_index.py", "ladder.py", "versions.py",
             "directory.py", "routing.py", "forms.py", "case_store.py", "case_data.py"]


def _used_ids(params: dict[str, set] | None = None) -> dict[str, str]:
    """id -> where, for every msg("...") / Message("...") call in engine/ (and webui/, for its own few); `params`
    collects the parameter names each id is given."""
    found = {}
    params = {} if params is None else params
    paths = sorted((ROOT / "engine").rglob("*.py")) + sorted((ROOT / "webui").rglob("*.py"))
    for path in (p for p in paths if p != ROOT / "engine" / "messages.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("msg", "Message")
                    and node.args):
                first = node.args[0]
                assert isinstance(first, ast.Constant) and isinstance(first.value, str), \
                    f"{path.relative_to(ROOT)}:{node.lineno}: a message id must be a literal (the scan reads it)"
                found.setdefault(first.value, f"{path.relative_to(ROOT)}:{node.lineno}")
                params.setdefault(first.value, set()).update(k.arg for k in node.keywords if k.arg)
    return found


def _catalog(locale: str) -> dict[str, str]:
    with open(CATALOGS / locale / "LC_MESSAGES" / "errors.po", "rb") as fh:
        return {m.id: m.string for m in read_po(fh, locale=locale) if m.id}


def _fields(template: str) -> set[str]:
    return {name for _text, name, _spec, _conv in string.Formatter().parse(template) if name}


def test_every_message_id_used_in_the_engine_has_an_english_default_and_a_chinese_text():
    used = _used_ids()
    assert len(used) > 60
    unknown = {i: where for i, where in used.items() if i not in MESSAGES}
    assert not unknown, f"message ids without an English default in engine/messages.py: {unknown}"
    zh = _catalog("zh_CN")
    missing = sorted(i for i in MESSAGES if not zh.get(i))
    assert not missing, f"no zh_CN text in webui/translations/zh_CN/LC_MESSAGES/errors.po: {missing}"
    assert not sorted(set(zh) - set(MESSAGES)), "the zh_CN errors catalog has ids the engine no longer defines"
    assert set(_catalog("en")) == set(MESSAGES), "the en errors catalog lacks ids (an empty msgstr: English default)"
    assert not sorted(set(MESSAGES) - set(used)), "ids defined but never used"


def test_chinese_texts_use_only_parameters_the_message_has():
    given: dict[str, set] = {}
    _used_ids(given)
    for message_id, text in _catalog("zh_CN").items():
        assert re.search(r"[\u4e00-\u9fff]", text), message_id
        assert _fields(text) <= _fields(MESSAGES[message_id]) | given.get(message_id, set()), message_id


@pytest.mark.parametrize("module", CONVERTED)
def test_no_bilingual_literal_is_left_in_the_converted_modules(module):
    for path in (ROOT / "engine").glob(module):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Name) and node.func.id in (
                    "NotFound", "Forbidden", "Conflict", "InvalidData", "AuthenticationFailed", "TaskFailed"):
                assert not isinstance(node.args[0], ast.Constant | ast.JoinedStr), \
                    f"{path.relative_to(ROOT)}:{node.lineno}: raise with msg(...), not a literal"


def test_a_message_is_its_english_text_with_id_and_params():
    error = NotFound(msg("case.not_found", case_id=7))
    assert error.message == "case 7 not found" and str(error) == "case 7 not found"
    assert error.message_id == "case.not_found" and error.params == {"case_id": 7}
    plain = NotFound("plain text")
    assert plain.message_id is None and plain.params == {}
    assert str(msg("user.exists", username="bob")) == "user 'bob' already exists"
    assert str(msg("form.range", min=1.0, max=5.0)) == "Must be between 1 and 5."  # 1.0 shown as 1
    later = msg("form.range")  # marshmallow fills the parameters later, through .format()
    assert str(later) == "Must be between {min} and {max}." and isinstance(later.format(min=1, max=2), Message)
    assert later.format(min=1, max=2) == "Must be between 1 and 2." and later.format(min=1).params == {"min": 1}


def _form_errors(form: list[dict], data: dict, rt) -> dict:
    with pytest.raises(InvalidData) as info:
        forms.validate_form(forms.build_schema(form), data, rt)
    return info.value.details


def test_marshmallow_messages_come_by_id(rt):
    form = [{"id": "n", "type": "long", "required": True, "min": 1.0, "max": 5.0},
            {"id": "low", "type": "long", "min": 3.0},
            {"id": "kind", "type": "enum", "enum": [("a", "A"), ("b", "B")]},
            {"id": "text", "type": "string", "maxlength": 3},
            {"id": "day", "type": "date"},
            {"id": "flag", "type": "boolean"}]
    details = _form_errors(form, {"n": 9, "low": 1, "kind": "c", "text": "abcd", "day": "tomorrow", "flag": "maybe",
                                  "extra": 1}, rt)
    ids = {key: [m.id for m in value] for key, value in details.items()}
    assert ids == {"n": ["form.range"], "low": ["form.range_min"], "kind": ["form.one_of"], "text": ["form.length_max"],
                   "day": ["form.not_date"], "flag": ["form.not_boolean"], "extra": ["form.unknown_field"]}
    assert details["n"] == ["Must be between 1 and 5."] and details["kind"] == ["Must be one of: a, b."]
    assert _form_errors(form, {"n": "x"}, rt)["n"][0].id == "form.not_integer"
    missing = _form_errors(form, {}, rt)
    assert missing["n"][0].id == "form.required" and missing["n"] == ["This field is required."]
    with pytest.raises(InvalidData) as info:
        forms.validate_form(forms.build_schema(form), {"n": 2, "colour": "red"}, rt)
    assert info.value.message_id == "form.unknown_fields" and info.value.message == "unknown field(s): colour"
