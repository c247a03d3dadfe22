"""Sync runs: which entities a run pulls, in which mode, from when; progress and watermarks. No I/O."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

Mode = Literal["full", "incremental"]

# Our entity name -> the Autotask entity, in the order a run pulls them (parents first).
PSA_ENTITIES: dict[str, str] = {
    "organizations": "Companies",
    "contacts": "Contacts",
    "contracts": "Contracts",
    "tickets": "Tickets",
    "opportunities": "Opportunities",
    "invoices": "Invoices",
}
# Invoices have no change field [C]: new ones by id watermark, voids by voidedDate in their own pass.
VOIDED_INVOICES = "voided_invoices"
# ... and paid dates by reading again, in incremental runs, the invoices we hold open (no paid date, not voided).
OPEN_INVOICES = "open_invoices"
ACCOUNTING_INVOICES = "accounting_invoices"  # read back from accounting: numbers, balances
NUMBERING = "numbering"  # PSA invoices given an accounting number in this run


def choose_mode(has_completed_run: bool, requested: Mode | None = None) -> Mode:
    if not has_completed_run:
        return "full"
    return requested or "incremental"


def is_due(last_started: datetime | None, interval_minutes: int, now: datetime) -> bool:
    return last_started is None or now - last_started >= timedelta(minutes=interval_minutes)


@dataclass(frozen=True)
class Watermark:
    changed_at: datetime | None = None
    last_id: int | None = None


def plan_since(mode: Mode, watermarks: Mapping[str, Watermark], overlap: timedelta) -> dict[str, Any]:
    """Per entity, where an incremental run starts: the newest change seen minus the overlap window
    (clock skew, rows committed late), and for invoices the highest id seen. Full: nothing."""
    if mode == "full":
        return {}
    since: dict[str, Any] = {}
    for entity, mark in watermarks.items():
        if mark.changed_at is not None:
            since[entity] = (mark.changed_at - overlap).isoformat()
        if entity == "invoices" and mark.last_id is not None:
            since["invoices_after_id"] = mark.last_id
    return since


def advance(progress: Mapping[str, Any], entity: str, *, fetched: int, last_id: int | None,
            changed_at: datetime | None, total: int | None = None, done: bool = False) -> dict[str, Any]:
    """The entity's progress after one committed page: counts, the resume checkpoint (last id) and the
    watermark candidates (newest change stamp, highest id)."""
    current = dict(progress.get(entity) or {})
    current["fetched"] = int(current.get("fetched", 0)) + fetched
    if total is not None:
        current["total"] = total
    if last_id is not None:
        current["after_id"] = max(int(current.get("after_id") or 0), last_id)
        current["max_id"] = max(int(current.get("max_id") or 0), last_id)
    if changed_at is not None:
        seen = current.get("max_changed_at")
        if seen is None or datetime.fromisoformat(seen) < changed_at:
            current["max_changed_at"] = changed_at.isoformat()
    if done:
        current["done"] = True
    return {**progress, entity: current}


def public_progress(progress: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What `GET /v1/sync/runs/{id}` shows per entity."""
    return {entity: {"fetched": int(p.get("fetched", 0)), "total": p.get("total"), "done": bool(p.get("done"))}
            for entity, p in progress.items()}


def watermarks_after(progress: Mapping[str, Any], previous: Mapping[str, Watermark],
                     started_at: datetime) -> dict[str, Watermark]:
    """What a completed run leaves for the next one: the newest change seen, but never later than the
    run's start (a row changed while the run was going may have been read before it changed, or its
    page passed already: the next run must look at it again), and never older than what was there
    before; the run's start when it saw no change stamp at all (nothing older is unseen). The overlap
    window of `plan_since` still covers clock skew between the PSA and us."""
    marks = dict(previous)
    for entity, p in progress.items():
        old = previous.get(entity, Watermark())
        seen = datetime.fromisoformat(p["max_changed_at"]) if p.get("max_changed_at") else None
        if seen is not None:
            seen = min(seen, started_at)
        changed_at = max((t for t in (old.changed_at, seen) if t is not None), default=started_at)
        last_ids = [i for i in (old.last_id, p.get("max_id")) if i is not None]
        marks[entity] = Watermark(changed_at, max(last_ids) if last_ids else None)
    return marks
