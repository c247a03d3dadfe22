"""The simulated company file: objects by entity, ids, SyncTokens, MetaData, tombstones.

Entity-specific rules (what a valid Invoice is, how a Payment moves balances) live
in `rules_*.py`; this module only does what every QuickBooks object shares.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .timestamps import StrictClock
from .wire import QboError, invalid, not_found, required

if TYPE_CHECKING:
    from .rules import EntityRules

# Present on every object and never written by a caller.
SYSTEM_FIELDS = frozenset({"Id", "SyncToken", "MetaData", "domain", "sparse"})


@dataclass(frozen=True)
class Tombstone:
    entity: str
    object_id: str
    deleted_at: datetime


def stale_object_error(entity: str, object_id: str, given: str, current: str) -> QboError:
    return QboError(
        400,
        "5010",
        "Stale Object Error",
        f"Stale Object Error : You and another user were working on the same {entity} "
        f"(Id={object_id}) at the same time; the other user finished first, so your work was "
        f"not saved. SyncToken {given} is stale; the current one is {current}.",
    )


class Books:
    def __init__(self, rules: dict[str, EntityRules], first_doc_number: int = 1001) -> None:
        self.rules = rules
        self.clock = StrictClock()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in rules}
        self.tombstones: list[Tombstone] = []
        self._next_id = {name: 1 for name in rules}
        self.next_doc_number = first_doc_number
        for name, entity_rules in rules.items():
            for seed in entity_rules.seeds():
                self.create(name, seed)

    # -- reads ---------------------------------------------------------------
    def get(self, entity: str, object_id: object) -> dict[str, Any]:
        found = self.objects[entity].get(str(object_id))
        if found is None:
            raise not_found(entity, object_id)
        return found

    def find(self, entity: str, object_id: object) -> dict[str, Any] | None:
        return self.objects[entity].get(str(object_id))

    def all(self, entity: str) -> list[dict[str, Any]]:
        return sorted(self.objects[entity].values(), key=lambda o: int(o["Id"]))

    # -- writes --------------------------------------------------------------
    def create(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        candidate = {k: v for k, v in body.items() if k not in SYSTEM_FIELDS}
        obj = self.rules[entity].prepare(self, candidate, None)
        object_id = str(self._next_id[entity])
        self._next_id[entity] += 1
        now = self.clock.now()
        stored = {
            "Id": object_id,
            "SyncToken": "0",
            "MetaData": {"CreateTime": now, "LastUpdatedTime": now},
            "domain": "QBO",
            "sparse": False,
            **obj,
        }
        self.objects[entity][object_id] = stored
        self.rules[entity].after_write(self, None, stored)
        return stored

    def update(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self._current_for_write(entity, body)
        read_only = SYSTEM_FIELDS | self.rules[entity].read_only
        changes = {k: v for k, v in body.items() if k not in read_only}
        if body.get("sparse") is True:
            candidate = {**copy.deepcopy(current), **changes}
        else:
            # A full update clears every writable field the body leaves out.
            kept = {k: v for k, v in current.items() if k in read_only or k.startswith("_")}
            candidate = {**copy.deepcopy(kept), **changes}
        prepared = self.rules[entity].prepare(self, candidate, current)
        return self.replace(entity, current, prepared)

    def replace(
        self, entity: str, current: dict[str, Any], new_fields: dict[str, Any]
    ) -> dict[str, Any]:
        """Store a changed version of `current`: SyncToken and LastUpdatedTime move on."""
        stored = {
            "Id": current["Id"],
            "SyncToken": str(int(current["SyncToken"]) + 1),
            "MetaData": {
                "CreateTime": current["MetaData"]["CreateTime"],
                "LastUpdatedTime": self.clock.now(),
            },
            "domain": "QBO",
            "sparse": False,
            **{k: v for k, v in new_fields.items() if k not in SYSTEM_FIELDS},
        }
        self.objects[entity][current["Id"]] = stored
        self.rules[entity].after_write(self, current, stored)
        return stored

    def delete(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self._current_for_write(entity, body, allow_voided=True)
        self.rules[entity].before_delete(self, current)
        del self.objects[entity][current["Id"]]
        self.tombstones.append(Tombstone(entity, current["Id"], self.clock.now()))
        self.rules[entity].after_write(self, current, None)
        return {"domain": "QBO", "status": "Deleted", "Id": current["Id"]}

    def void(self, entity: str, body: dict[str, Any]) -> dict[str, Any]:
        current = self._current_for_write(entity, body)
        voided = self.rules[entity].voided(self, copy.deepcopy(current))
        voided["_voided"] = True
        return self.replace(entity, current, voided)

    def _current_for_write(
        self, entity: str, body: dict[str, Any], *, allow_voided: bool = False
    ) -> dict[str, Any]:
        if body.get("Id") is None:
            raise required("Id")
        current = self.get(entity, body["Id"])
        if current.get("_voided") and not allow_voided:
            raise invalid(f"{entity} Id={current['Id']} is voided and cannot be changed")
        given = body.get("SyncToken")
        if given is None:
            raise required("SyncToken")
        if str(given) != current["SyncToken"]:
            raise stale_object_error(entity, current["Id"], str(given), current["SyncToken"])
        return current

    # -- change feed ---------------------------------------------------------
    def changes_since(self, entities: list[str], since: datetime) -> Iterator[tuple[datetime, str, dict]]:
        """Every change at or after `since`, as (when, entity, object or tombstone record)."""
        for entity in entities:
            for obj in self.objects[entity].values():
                when = obj["MetaData"]["LastUpdatedTime"]
                if when >= since:
                    yield when, entity, obj
        for stone in self.tombstones:
            if stone.entity in entities and stone.deleted_at >= since:
                record = {
                    "domain": "QBO",
                    "status": "Deleted",
                    "Id": stone.object_id,
                    "MetaData": {"LastUpdatedTime": stone.deleted_at},
                }
                yield stone.deleted_at, stone.entity, record
