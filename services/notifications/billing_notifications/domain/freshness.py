"""Sync freshness: when did each integration last complete a run, and has it stalled (no I/O).

One entry per (organization of the sync events, integration), kept as a plain dict so that it
can live in a faust table (JSON). A stall is due when no run has completed for more than twice
the integration's interval; it is raised once per last completed run: the entry remembers the
stall it has seen go by on the topic, and the event id is derived from the same facts, so a
stall raised twice (a timer racing the topic, or a rebuilt table) is still one event.
"""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from billing_shared.events import Event
from billing_shared.events.sync import SyncStalledData

Entry = dict[str, Any]
_NAMESPACE = uuid.UUID("6f1c9d1e-2b8a-4f57-9a51-0c3c2f7d9b11")


def utc(moment: datetime) -> datetime:
    """In UTC; times without a zone are taken as UTC already, as everywhere on the wire."""
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def key_of(event: Event) -> str | None:
    integration = getattr(event.data, "integration", None)
    return f"{event.organization_id}|{integration}" if integration else None


def observe(entry: Entry | None, event: Event, *, default_interval: int) -> Entry | None:
    """The entry after `event`, or None when the event changes nothing."""
    kind, data = event.event_type, event.data
    if kind not in ("sync.started", "sync.completed", "sync.stalled"):
        return None
    new: Entry = dict(entry) if entry else {
        "organization_id": event.organization_id, "integration": data.integration,
        "interval_minutes": default_interval, "last_completed_at": None,
        "first_seen_at": utc(event.occurred_at).isoformat(), "reported_for": None,
    }
    if getattr(data, "interval_minutes", None):
        new["interval_minutes"] = data.interval_minutes
    if kind == "sync.completed":
        last, completed = new["last_completed_at"], utc(data.completed_at)
        if last is None or datetime.fromisoformat(last) < completed:
            new["last_completed_at"] = completed.isoformat()
    elif kind == "sync.stalled":
        new["reported_for"] = utc(data.last_completed_at).isoformat() if data.last_completed_at else "never"
    return new if new != entry else None


def baseline(entry: Entry) -> str:
    return entry["last_completed_at"] or "never"


def due_stall(entry: Entry, now: datetime, *, minute_seconds: float = 60.0) -> SyncStalledData | None:
    """The stall to raise now, if any."""
    if entry.get("reported_for") == baseline(entry):
        return None
    since = datetime.fromisoformat(entry["last_completed_at"] or entry["first_seen_at"])
    allowed = timedelta(seconds=2 * entry["interval_minutes"] * minute_seconds)
    if now - since <= allowed:
        return None
    last = entry["last_completed_at"]
    return SyncStalledData(integration=entry["integration"],
                           last_completed_at=datetime.fromisoformat(last) if last else None,
                           interval_minutes=entry["interval_minutes"])


def stall_event_id(entry: Entry) -> uuid.UUID:
    return uuid.uuid5(_NAMESPACE, f"sync.stalled|{entry['organization_id']}|{entry['integration']}|{baseline(entry)}")
