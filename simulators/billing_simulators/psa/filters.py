"""Evaluate an Autotask QueryModel filter against rows.

A filter compiles once into nested predicates; validation errors (unknown
field, non-queryable field, bad operator or value) become QueryError, which the
API answers as 500 {"errors": [...]} like the real one.

Semantics chosen where the docs are silent [?]: string comparisons ignore case
(SQL Server's default collation); a null or blank value fails every comparison
except notExist, as NULL does in SQL; "exist" means not null and not blank.
"""

from __future__ import annotations

from typing import Any, Callable

from .entities import EntitySpec
from .values import BOOL, DATE, DATETIME, FLOAT, INT, STR, UDFS, ValueProblem, coerce

Predicate = Callable[[dict[str, Any]], bool]

COMPARISONS = {"eq", "noteq", "gt", "gte", "lt", "lte"}
TEXT_OPS = {"beginswith", "endswith", "contains"}
LIST_OPS = {"in", "notin"}
PRESENCE_OPS = {"exist", "notexist"}
GROUP_OPS = {"and", "or"}


class QueryError(ValueError):
    pass


def _key(item: dict[str, Any], name: str) -> Any:
    """QueryModel keys match case-insensitively (AT-DJ sends 'filter' and 'MaxRecords')."""
    for key, value in item.items():
        if key.lower() == name:
            return value
    return None


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return left == right
    if op == "noteq":
        return left != right
    if op == "gt":
        return left > right
    if op == "gte":
        return left >= right
    if op == "lt":
        return left < right
    return left <= right


def _is_blank(value: Any) -> bool:
    return value is None or value == ""


class FilterCompiler:
    def __init__(self, spec: EntitySpec, max_or_conditions: int) -> None:
        self.spec = spec
        self.max_or = max_or_conditions
        self.or_conditions = 0

    def compile(self, items: list[Any]) -> Predicate:
        if not isinstance(items, list):
            raise QueryError("filter must be a list of conditions")
        parts = [self.item(item, inside_or=False) for item in items]
        return lambda row: all(part(row) for part in parts)

    def item(self, item: Any, *, inside_or: bool) -> Predicate:
        if not isinstance(item, dict):
            raise QueryError(f"Invalid filter item: {item!r}")
        op = str(_key(item, "op") or "").lower()
        if op in GROUP_OPS:
            children = _key(item, "items")
            if not isinstance(children, list) or not children:
                raise QueryError(f"Filter group '{op}' needs a non-empty 'items' list")
            parts = [self.item(child, inside_or=inside_or or op == "or") for child in children]
            if op == "or":
                return lambda row: any(part(row) for part in parts)
            return lambda row: all(part(row) for part in parts)
        if inside_or:
            self.or_conditions += 1
            if self.or_conditions > self.max_or:
                raise QueryError(f"A query may contain at most {self.max_or} OR conditions")
        if _key(item, "udf") is True:
            return self.udf_leaf(op, item)
        return self.field_leaf(op, item)

    def field_leaf(self, op: str, item: dict[str, Any]) -> Predicate:
        raw_field = _key(item, "field")
        field = self.spec.canonical(str(raw_field or ""))
        if field is None:
            raise QueryError(f"Unable to find {raw_field} in the {self.spec.name} entity.")
        if field in self.spec.not_queryable:
            raise QueryError(f"The field {field} of the {self.spec.name} entity cannot be queried.")
        kind = self.spec.fields[field]
        if kind == UDFS:
            raise QueryError("Query user-defined fields with \"udf\": true and the UDF name")
        if op in PRESENCE_OPS:
            wanted = op == "exist"
            return lambda row: (not _is_blank(row.get(field))) is wanted
        value = _key(item, "value")
        if op in LIST_OPS:
            if not isinstance(value, list) or not value:
                raise QueryError(f"Operator '{op}' needs a non-empty list value")
            members = {self.operand(kind, field, v) for v in value}
            negate = op == "notin"

            def in_list(row: dict[str, Any]) -> bool:
                current = row.get(field)
                if _is_blank(current):
                    return False
                return (self.normal(kind, current) in members) is not negate

            return in_list
        if op in TEXT_OPS:
            if kind != STR:
                raise QueryError(f"Operator '{op}' applies to text fields, not {field}")
            needle = self.operand(kind, field, value)
            test = {"beginswith": str.startswith, "endswith": str.endswith,
                    "contains": str.__contains__}[op]
            return lambda row: (not _is_blank(row.get(field))
                                and test(row[field].lower(), needle))
        if op in COMPARISONS:
            if kind == BOOL and op not in ("eq", "noteq"):
                raise QueryError(f"Operator '{op}' does not apply to true/false field {field}")
            operand = self.operand(kind, field, value)
            return lambda row: (not _is_blank(row.get(field))
                                and _compare(op, self.normal(kind, row[field]), operand))
        raise QueryError(f"Unknown filter operator '{op}'")

    def udf_leaf(self, op: str, item: dict[str, Any]) -> Predicate:
        name = str(_key(item, "field") or "").lower()
        if not name:
            raise QueryError("A UDF filter needs the UDF name in 'field'")

        def udf_value(row: dict[str, Any]) -> str | None:
            for udf in row.get("userDefinedFields") or ():
                if udf["name"].lower() == name:
                    return udf["value"]
            return None

        if op in PRESENCE_OPS:
            wanted = op == "exist"
            return lambda row: (not _is_blank(udf_value(row))) is wanted
        value = _key(item, "value")
        if op in LIST_OPS:
            if not isinstance(value, list) or not value:
                raise QueryError(f"Operator '{op}' needs a non-empty list value")
            members = {str(v).lower() for v in value}
            negate = op == "notin"
            return lambda row: (not _is_blank(udf_value(row))
                                and (udf_value(row).lower() in members) is not negate)
        if value is None:
            raise QueryError(f"Operator '{op}' needs a value")
        needle = str(value).lower()
        if op in TEXT_OPS:
            test = {"beginswith": str.startswith, "endswith": str.endswith,
                    "contains": str.__contains__}[op]
            return lambda row: not _is_blank(udf_value(row)) and test(udf_value(row).lower(), needle)
        if op in COMPARISONS:
            # UDF values are strings on the wire; compare as numbers when both are.
            def udf_compare(row: dict[str, Any]) -> bool:
                current = udf_value(row)
                if _is_blank(current):
                    return False
                try:
                    return _compare(op, float(current), float(needle))
                except ValueError:
                    return _compare(op, current.lower(), needle)

            return udf_compare
        raise QueryError(f"Unknown filter operator '{op}'")

    @staticmethod
    def normal(kind: str, value: Any) -> Any:
        return value.lower() if kind == STR else value

    def operand(self, kind: str, field: str, value: Any) -> Any:
        if value is None or isinstance(value, (dict, list)):
            raise QueryError(f"Invalid value {value!r} for field {field}")
        try:
            if kind in (INT, FLOAT):
                # Compare ints and floats alike: "id gt 2.5" is fine.
                number = coerce(FLOAT, value, field)
                return int(number) if kind == INT and number.is_integer() else number
            if kind in (DATETIME, DATE):
                return coerce(DATETIME, value, field)
            return self.normal(kind, coerce(kind, value, field))
        except ValueProblem as problem:
            raise QueryError(str(problem)) from None


def id_floor(items: list[Any]) -> int | None:
    """The highest 'id gt/gte N' among top-level conditions: where a scan may
    start. The sync service's id watermark makes this the common case."""
    floor: int | None = None
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict) or str(_key(item, "field") or "").lower() != "id":
            continue
        op = str(_key(item, "op") or "").lower()
        value = _key(item, "value")
        if op not in ("gt", "gte") or isinstance(value, bool):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        # Rows after `after`: gt 5 -> after 5; gte 5 -> after 4; gt 4.5 -> after 4.
        after = int(number) if op == "gt" else int(number) - (1 if number.is_integer() else 0)
        floor = after if floor is None else max(floor, after)
    return floor
