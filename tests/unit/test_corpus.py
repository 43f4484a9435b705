"""Third-party BPMN corpus: every file either deploys or is rejected with designer-readable problems.

The corpus (148 real files from modelers, engines and the MIWG test suite) lives in the shared directory next to
the repository, or wherever JIEFEN_SHARED_DIR points; see its README.md and SOURCES.tsv. Rows whose notes start
with NEGATIVE or MALFORMED must be rejected.
"""
from __future__ import annotations

import csv
import os
import re
from functools import lru_cache
from pathlib import Path

import pytest

from engine import specs
from engine.errors import ProcessDefinitionError

SHARED = Path(os.environ.get("JIEFEN_SHARED_DIR") or Path(__file__).resolve().parents[2].parent / "shared")
CORPUS = SHARED / "corpus"
BPMN_DIR = CORPUS / "bpmn"

if not BPMN_DIR.is_dir():
    pytest.skip(f"BPMN corpus not found at {BPMN_DIR} (set JIEFEN_SHARED_DIR to the shared directory)",
                allow_module_level=True)


def _is_bpmn(path: Path) -> bool:
    return path.is_file() and (path.name.endswith(".bpmn") or path.name.endswith(".bpmn20.xml"))


FILES = sorted(p for p in BPMN_DIR.rglob("*") if _is_bpmn(p))


@lru_cache(maxsize=None)
def _notes() -> dict[str, str]:
    with open(CORPUS / "SOURCES.tsv", encoding="utf-8", newline="") as fh:
        return {row["path"]: row["notes"] or "" for row in csv.DictReader(fh, delimiter="\t")}


@lru_cache(maxsize=None)
def _folder(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if _is_bpmn(p)}


def _must_reject(path: Path) -> bool:
    return _notes().get(path.relative_to(CORPUS).as_posix(), "").startswith(("NEGATIVE", "MALFORMED"))


# What a designer must never see in a problem message.
_REPR = re.compile(r"^\s*[A-Za-z_][\w.]*(Error|Exception|Warning)\(|<[\w.]+ object at 0x|<Element |Traceback")


def test_corpus_is_complete():
    # README counts 148 files; every row SOURCES.tsv expects to be rejected must be among them.
    assert len(FILES) == 148
    negative = [path for path, notes in _notes().items() if notes.startswith(("NEGATIVE", "MALFORMED"))]
    assert len(negative) >= 16
    assert all((CORPUS / path) in FILES for path in negative)


@pytest.mark.parametrize("path", FILES, ids=[p.relative_to(BPMN_DIR).as_posix() for p in FILES])
def test_file_deploys_or_is_rejected_clearly(path: Path):
    siblings = {name: data for name, data in _folder(path.parent).items() if name != path.name}
    try:
        definitions = specs.parse_files({path.name: path.read_bytes()}, available=siblings)
    except ProcessDefinitionError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.message and problem.message.strip(), problem
            assert not _REPR.search(problem.message), problem.message
            assert "internal error" not in problem.message, problem.message
            assert problem.file, problem
            assert problem.line is None or problem.line >= 1, problem
        return
    assert not _must_reject(path), f"{path.name} is marked NEGATIVE/MALFORMED but deployed"
    assert definitions
    for definition in definitions:
        assert definition.file_name == path.name
        assert set(definition.first_user_tasks) <= set(definition.user_tasks)
        spec, subs = specs.restore_spec(specs.serialize_spec(definition))
        assert spec.name == definition.process_id
        assert set(subs) == set(definition.subprocess_specs)
