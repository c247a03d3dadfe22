"""In-memory tables of the simulated tenant.

Rows are kept sparse (only the fields that have a value) so a benchmark seed of
100,000 invoices stays small; `render` fills in the rest when a row goes out.
Each table keeps its ids sorted, so paging is a bisect, not a sort.
"""

from __future__ import annotations

import bisect
from typing import Any, Iterator

from .entities import ENTITIES, EntitySpec
from .values import ValueProblem, coerce


class Table:
    def __init__(self, spec: EntitySpec) -> None:
        self.spec = spec
        self.rows: dict[int, dict[str, Any]] = {}
        self.ids: list[int] = []
        self.next_id = spec.first_id

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, row_id: int) -> dict[str, Any] | None:
        return self.rows.get(row_id)

    def insert(self, row: dict[str, Any]) -> dict[str, Any]:
        row_id = row.get("id")
        if row_id is None:
            row_id = row["id"] = self.next_id
        if row_id in self.rows:
            raise ValueProblem(f"{self.spec.name} id {row_id} already exists")
        self.rows[row_id] = row
        if not self.ids or row_id > self.ids[-1]:
            self.ids.append(row_id)
        else:
            bisect.insort(self.ids, row_id)
        self.next_id = max(self.next_id, row_id + 1)
        return row

    def rows_after(self, after: int | None) -> Iterator[dict[str, Any]]:
        start = 0 if after is None else bisect.bisect_right(self.ids, after)
        for position in range(start, len(self.ids)):
            yield self.rows[self.ids[position]]

    def rows_before(self, before: int) -> Iterator[dict[str, Any]]:
        """Rows with id < before, newest first (for prevPageUrl)."""
        for position in range(bisect.bisect_left(self.ids, before) - 1, -1, -1):
            yield self.rows[self.ids[position]]

    def render(self, row: dict[str, Any], include: list[str] | None = None) -> dict[str, Any]:
        names = include or self.spec.fields
        out = {name: row.get(name) for name in names}
        if "userDefinedFields" in out:
            out["userDefinedFields"] = [dict(u) for u in row.get("userDefinedFields") or []]
        return out


class Store:
    def __init__(self) -> None:
        self.tables = {name: Table(spec) for name, spec in ENTITIES.items()}

    def table(self, entity: str) -> Table:
        return self.tables[entity]

    def build_row(self, spec: EntitySpec, fields: dict[str, Any], now: str) -> dict[str, Any]:
        """Coerce known fields (names case-insensitive), drop unknown ones as the
        .NET API ignores unknown JSON members, then defaults and create stamps."""
        row: dict[str, Any] = {}
        for name, value in fields.items():
            canonical = spec.canonical(name)
            if canonical is None or value is None:
                continue
            row[canonical] = coerce(spec.fields[canonical], value, canonical)
        for name, value in spec.defaults.items():
            row.setdefault(name, value)
        for name in spec.stamp_on_create:
            row.setdefault(name, now)
        if "userDefinedFields" in spec.fields:
            row.setdefault("userDefinedFields", [])
        return row

    def add(self, entity: str, fields: dict[str, Any], now: str) -> dict[str, Any]:
        table = self.tables[entity]
        return table.insert(self.build_row(table.spec, fields, now))

    def change(self, entity: str, row: dict[str, Any], changes: dict[str, Any], now: str) -> None:
        """Apply already-validated changes and stamp the entity's change fields."""
        spec = self.tables[entity].spec
        for name, value in changes.items():
            value = coerce(spec.fields[name], value, name)
            if value is None:
                row.pop(name, None)
            else:
                row[name] = value
        for name in spec.stamp_on_change:
            row[name] = now
