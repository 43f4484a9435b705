"""Reading attribute values: comma-separated lists, numbers, and whether a value is JUEL."""
from __future__ import annotations


def _split_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",")]


def _has_juel(value: str | None) -> bool:
    return bool(value) and ("${" in value or "#{" in value)


def _as_int(value: str | None) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _as_float(value: str | None) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None
