"""Run a QueryModel against a table: validation, id-ordered pages, cursors.

The page cursor is the last id served, so rows created between two page calls
are not skipped (they have higher ids) and rows already served never repeat.
It travels as an opaque token in nextPageUrl: `.../{Entity}/query/next?paging=`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from .filters import FilterCompiler, Predicate, QueryError, _key, id_floor
from .store import Table

BEGINNING = -(2**63)  # "after" value meaning: from the first row


@dataclass
class QueryModel:
    max_records: int
    include_fields: list[str] | None
    predicate: Predicate
    floor: int | None


def parse_query_model(table: Table, body: Any, *, page_size_max: int, require_filter: bool,
                      max_or_conditions: int) -> QueryModel:
    if not isinstance(body, dict):
        raise QueryError("The query body must be a JSON object")
    spec = table.spec
    max_records = _key(body, "maxrecords")
    if max_records is None:
        max_records = page_size_max
    if isinstance(max_records, bool) or not isinstance(max_records, int) \
            or not 1 <= max_records <= page_size_max:
        raise QueryError(f"MaxRecords must be between 1 and {page_size_max}")
    include = _key(body, "includefields")
    include_fields = None
    if include:
        if not isinstance(include, list):
            raise QueryError("IncludeFields must be a list of field names")
        include_fields = []
        for name in include:
            canonical = spec.canonical(str(name))
            if canonical is None:
                raise QueryError(f"Unable to find {name} in the {spec.name} entity.")
            include_fields.append(canonical)
        if "id" not in include_fields:  # the cursor needs it; harmless to add
            include_fields.insert(0, "id")
    items = _key(body, "filter") or []
    if require_filter and not items:
        raise QueryError("A query requires at least one filter condition")
    predicate = FilterCompiler(spec, max_or_conditions).compile(items)
    return QueryModel(max_records, include_fields, predicate, id_floor(items))


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_after: int | None  # None: no further page
    prev_after: int | None  # None: no previous page


def select_page(table: Table, model: QueryModel, cursor_after: int | None) -> Page:
    after = model.floor
    if cursor_after is not None:
        after = cursor_after if after is None else max(after, cursor_after)
    rows: list[dict[str, Any]] = []
    next_after = None
    for row in table.rows_after(after):
        if not model.predicate(row):
            continue
        if len(rows) == model.max_records:
            next_after = rows[-1]["id"]  # one more match exists: there is a next page
            break
        rows.append(row)
    prev_after = None
    if cursor_after is not None and rows:
        prev_after = _previous_page_after(table, model, rows[0]["id"])
    return Page(rows, next_after, prev_after)


def _previous_page_after(table: Table, model: QueryModel, first_id: int) -> int | None:
    seen = 0
    for row in table.rows_before(first_id):
        if model.floor is not None and row["id"] <= model.floor:
            break
        if model.predicate(row):
            seen += 1
            if seen > model.max_records:
                return row["id"]
    return BEGINNING if seen else None


def count_matches(table: Table, model: QueryModel) -> int:
    return sum(1 for row in table.rows_after(model.floor) if model.predicate(row))


def encode_cursor(entity: str, after: int) -> str:
    raw = json.dumps({"e": entity, "a": after}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(entity: str, token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        after = data["a"]
        if data["e"] != entity or not isinstance(after, int):
            raise ValueError
        return after
    except (ValueError, KeyError, TypeError):
        raise QueryError("The paging token is not valid for this query") from None
