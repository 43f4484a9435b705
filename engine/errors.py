"""Domain exceptions raised by the engine; they carry ids and messages, never HTTP codes."""
from __future__ import annotations

from dataclasses import dataclass


class CaseError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "case_error"

    def __init__(self, message: str, details=None):
        """`message`: an engine Message (msg("case.not_found", case_id=7): the UI shows it in the reader's
        language) or, for designer problems and the like, plain text. `.message` reads as English text."""
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def message_id(self) -> str | None:
        return getattr(self.message, "id", None)

    @property
    def params(self) -> dict:
        return dict(getattr(self.message, "params", None) or {})


class NotFound(CaseError):
    code = "not_found"


class Unavailable(CaseError):
    """Something this server needs for the request is missing (WeasyPrint or Pango for a PDF): the request
    may succeed elsewhere or later; nothing was changed."""

    code = "unavailable"


class Forbidden(CaseError):
    """The actor may not do this (wrong role, wrong org unit, auditor acting)."""

    code = "forbidden"


class AuthenticationFailed(CaseError):
    """Who is calling could not be established: wrong credentials, a locked (name, address) pair, or a bearer
    token that is unknown, revoked or expired."""

    code = "unauthorized"


class Conflict(CaseError):
    """Illegal transition or a concurrent change (stale lock_version, task already done)."""

    code = "conflict"


class InvalidData(CaseError):
    """Submitted data fails validation; details is a field -> [messages] dict."""

    code = "validation"


class TaskFailed(CaseError):
    """A script, condition or timer expression failed while the engine ran the case."""

    code = "task_failed"


class CalendarError(CaseError):
    """A date lies outside the calendar's data, or a period cannot be computed."""

    code = "calendar"


class SandboxError(CaseError):
    """An expression or script broke the sandbox rules (forbidden name, import, dunder access...)."""

    code = "sandbox"


@dataclass
class Problem:
    """One thing wrong with a BPMN file, phrased for a process designer."""

    message: str
    element_id: str | None = None
    line: int | None = None
    file: str | None = None

    def as_dict(self) -> dict:
        return {"element_id": self.element_id, "line": self.line, "message": self.message, "file": self.file}


class ProcessDefinitionError(CaseError):
    """A BPMN file was rejected; `problems` lists every problem found."""

    code = "invalid_bpmn"

    def __init__(self, message: str, problems: list[Problem]):
        super().__init__(message, details=[p.as_dict() for p in problems])
        self.problems = problems
