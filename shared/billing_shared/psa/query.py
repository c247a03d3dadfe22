"""Build Autotask query filters: `F.eq("id", 3)`, `F.or_(...)`, `F.udf_eq(...)`.

A filter item is {op, field, value, udf, items[]} [C: AT-OAS]; top-level items
are ANDed; groups nest. Datetimes go out as UTC `YYYY-MM-DDTHH:MM:SS.fffZ`,
the form AT-DJ filters its incremental fields with.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

Filter = dict[str, Any]


def format_time(moment: datetime) -> str:
    """UTC, milliseconds, Z. Naive datetimes are taken as UTC already."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def wire_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)  # Autotask amounts are doubles on the wire
    if isinstance(value, (list, tuple, set, frozenset)):
        return [wire_value(v) for v in value]
    return value


def _leaf(op: str, field: str, value: Any = None, *, udf: bool = False) -> Filter:
    item: Filter = {"op": op, "field": field}
    if value is not None:
        item["value"] = wire_value(value)
    if udf:
        item["udf"] = True
    return item


class F:
    """Filter items, one static method per Autotask operator."""

    @staticmethod
    def eq(field: str, value: Any) -> Filter:
        return _leaf("eq", field, value)

    @staticmethod
    def noteq(field: str, value: Any) -> Filter:
        return _leaf("noteq", field, value)

    @staticmethod
    def gt(field: str, value: Any) -> Filter:
        return _leaf("gt", field, value)

    @staticmethod
    def gte(field: str, value: Any) -> Filter:
        return _leaf("gte", field, value)

    @staticmethod
    def lt(field: str, value: Any) -> Filter:
        return _leaf("lt", field, value)

    @staticmethod
    def lte(field: str, value: Any) -> Filter:
        return _leaf("lte", field, value)

    @staticmethod
    def begins_with(field: str, value: str) -> Filter:
        return _leaf("beginsWith", field, value)

    @staticmethod
    def ends_with(field: str, value: str) -> Filter:
        return _leaf("endsWith", field, value)

    @staticmethod
    def contains(field: str, value: str) -> Filter:
        return _leaf("contains", field, value)

    @staticmethod
    def exist(field: str) -> Filter:
        return _leaf("exist", field)

    @staticmethod
    def not_exist(field: str) -> Filter:
        return _leaf("notExist", field)

    @staticmethod
    def in_(field: str, values: Any) -> Filter:
        return _leaf("in", field, list(values))

    @staticmethod
    def not_in(field: str, values: Any) -> Filter:
        return _leaf("notIn", field, list(values))

    @staticmethod
    def and_(*items: Filter) -> Filter:
        return {"op": "and", "items": list(items)}

    @staticmethod
    def or_(*items: Filter) -> Filter:
        return {"op": "or", "items": list(items)}

    @staticmethod
    def udf(op: str, name: str, value: Any = None) -> Filter:
        """A condition on a user-defined field, by its name."""
        return _leaf(op, name, value, udf=True)

    @staticmethod
    def udf_eq(name: str, value: Any) -> Filter:
        return _leaf("eq", name, value, udf=True)


# Autotask wants at least one condition; "every row" is spelled id > 0, as AT-DJ does.
ALL_ROWS: tuple[Filter, ...] = (F.gt("id", 0),)
