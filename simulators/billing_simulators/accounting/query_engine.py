"""Running a parsed `Query` against the books: typed comparisons, ordering, paging."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from .query_language import Condition, Literal, Query, parse_error
from .timestamps import parse_instant

_MISSING = object()


def lookup(obj: dict[str, Any], path: str) -> Any:
    """`MetaData.LastUpdatedTime` style paths; a reference compares by its `value`."""
    value: Any = obj
    for part in path.split("."):
        if not isinstance(value, dict):
            return _MISSING
        match = next((k for k in value if k.lower() == part.lower()), None)
        if match is None:
            return _MISSING
        value = value[match]
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    return value


def _coerce(literal: Literal, like: Any) -> Any:
    """Read the literal as the same type as the stored value it is compared with."""
    text = literal.text
    try:
        if isinstance(like, bool):
            return text.strip().lower() == "true"
        if isinstance(like, Decimal):
            return Decimal(text)
        if isinstance(like, datetime):
            return parse_instant(text)
    except (InvalidOperation, ValueError):
        raise parse_error(f"{text!r} cannot be compared with a {type(like).__name__}") from None
    return text


def _sortable(value: Any) -> Any:
    # Ids and other numeric strings order as numbers (Id 10 after Id 9).
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _sort_key(value: Any) -> tuple[int, Any]:
    # Numeric strings sort before other strings, so mixed DocNumbers never compare int with str.
    if isinstance(value, str) and not value.isdigit():
        return (1, value.casefold())
    return (0, _sortable(value))


def _compare(stored: Any, op: str, wanted: Any) -> bool:
    left, right = _sortable(stored), _sortable(wanted)
    if type(left) is not type(right):
        left, right = str(stored), str(wanted)
    if op == "=":
        return left == right
    if op == "<":
        return left < right
    if op == ">":
        return left > right
    if op == "<=":
        return left <= right
    return left >= right


def matches(obj: dict[str, Any], condition: Condition) -> bool:
    stored = lookup(obj, condition.path)
    if stored is _MISSING or stored is None:
        # QBO writes null as ' ': `WHERE DocNumber = ' '` finds objects without one.
        return condition.op == "=" and condition.values[0].text.strip() == ""
    if condition.op == "IN":
        return any(_compare(stored, "=", _coerce(v, stored)) for v in condition.values)
    if condition.op == "LIKE":
        pattern = ".*".join(re.escape(part) for part in condition.values[0].text.split("%"))
        return re.fullmatch(pattern, str(stored), re.IGNORECASE | re.DOTALL) is not None
    return _compare(stored, condition.op, _coerce(condition.values[0], stored))


def project(obj: dict[str, Any], columns: tuple[str, ...]) -> dict[str, Any]:
    """Only the properties asked for (those with values), marked `sparse` as QBO marks an
    object that lacks some of its properties."""
    out: dict[str, Any] = {"domain": obj.get("domain", "QBO"), "sparse": True}
    for path in columns:
        source, target = obj, out
        parts = path.split(".")
        for index, part in enumerate(parts):
            key = next((k for k in source if k.lower() == part.lower()), None) \
                if isinstance(source, dict) else None
            if key is None:
                break
            if index == len(parts) - 1:
                target[key] = source[key]
            else:
                source, target = source[key], target.setdefault(key, {})
    return out


def run(objects: list[dict[str, Any]], query: Query) -> tuple[list[dict[str, Any]], int]:
    """The page asked for, and how many objects matched in all."""
    found = [obj for obj in objects if all(matches(obj, c) for c in query.conditions)]
    if query.order_by:
        present = [o for o in found if lookup(o, query.order_by) not in (_MISSING, None)]
        absent = [o for o in found if lookup(o, query.order_by) in (_MISSING, None)]
        present.sort(key=lambda o: _sort_key(lookup(o, query.order_by)), reverse=query.descending)
        found = present + absent
    start = query.start_position - 1
    page = found[start : start + query.max_results]
    if query.columns:
        page = [project(obj, query.columns) for obj in page]
    return page, len(found)
