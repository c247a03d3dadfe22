"""Autotask wire formats: how the simulator coerces, stores and compares values.

Datetimes are stored as canonical UTC strings `YYYY-MM-DDTHH:MM:SS.fffZ`. That
form sorts like time itself, so filters compare strings and never parse a row.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Callable

INT, FLOAT, STR, BOOL, DATETIME, DATE, UDFS = "int", "float", "str", "bool", "datetime", "date", "udfs"

_CANONICAL = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


class ValueProblem(ValueError):
    """A value that does not fit its field; the API answers it with errors[]."""


def format_stamp(moment: datetime) -> str:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_stamp() -> str:
    return format_stamp(datetime.now(UTC))


def to_stamp(value: Any, field: str) -> str:
    if isinstance(value, datetime):
        return format_stamp(value)
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00.000Z"
    if not isinstance(value, str):
        raise ValueProblem(f"Field '{field}' expects a datetime, got {value!r}")
    if _CANONICAL.match(value):
        return value
    try:
        return _text_to_stamp(value)
    except ValueError:
        raise ValueProblem(f"Field '{field}' expects a datetime, got {value!r}") from None


@lru_cache(maxsize=65536)  # seeds repeat the same few dates thousands of times
def _text_to_stamp(value: str) -> str:
    # Naive times are UTC: Autotask stores API times in UTC [C].
    return format_stamp(datetime.fromisoformat(value.strip()))


def to_date_stamp(value: Any, field: str) -> str:
    # Date-only fields (Invoices.paidDate) drop the time part [C: AT-INV].
    return to_stamp(value, field)[:10] + "T00:00:00.000Z"


def _to_int(value: Any, field: str) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ValueProblem(f"Field '{field}' expects an integer, got {value!r}")


def _to_float(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise ValueProblem(f"Field '{field}' expects a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueProblem(f"Field '{field}' expects a number, got {value!r}") from None


def _to_bool(value: Any, field: str) -> bool:
    # "Booleans must be true/false: anything else, null included, is an error" [C].
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueProblem(f"Field '{field}' expects true or false, got {value!r}")


def _to_str(value: Any, field: str) -> str:
    if isinstance(value, (dict, list)):
        raise ValueProblem(f"Field '{field}' expects a string, got {value!r}")
    return value if isinstance(value, str) else str(value)


def _to_udfs(value: Any, field: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(u, dict) and "name" in u for u in value):
        raise ValueProblem(f"Field '{field}' expects a list of {{name, value}}")
    # Every UDF value is a string on the wire [C].
    return [{"name": str(u["name"]), "value": None if u.get("value") is None else str(u["value"])}
            for u in value]


COERCERS: dict[str, Callable[[Any, str], Any]] = {
    INT: _to_int, FLOAT: _to_float, STR: _to_str, BOOL: _to_bool,
    DATETIME: to_stamp, DATE: to_date_stamp, UDFS: _to_udfs,
}


def coerce(kind: str, value: Any, field: str) -> Any:
    if value is None:
        if kind == BOOL:
            raise ValueProblem(f"Field '{field}' expects true or false, got null")
        return None
    return COERCERS[kind](value, field)
