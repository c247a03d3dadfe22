"""Outbound webhooks' rules (no I/O): which event types may be subscribed to, what a subscription's URL
and secret look like, the retry schedule, and the ordering rule of delivery."""
from __future__ import annotations

import base64
import secrets
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from billing_shared.events.catalog import EVENTS_BY_TOPIC, UPSTREAM_INVOICES
from billing_shared.events.envelope import Data

# Every billing.* topic (upstream.invoices.v1 is what upstream systems publish to us, not our news).
TOPICS: tuple[str, ...] = tuple(t for t in EVENTS_BY_TOPIC if t.startswith("billing.") and t != UPSTREAM_INVOICES)
EVENT_TYPES: tuple[str, ...] = tuple(dict.fromkeys(cls.TYPE for t in TOPICS for cls in EVENTS_BY_TOPIC[t]))
URL_MAX = 2000
SECRET_PREFIX = "whsec_"


def unknown_types(requested: Iterable[str]) -> list[str]:
    """The requested event types that are no billing.* event type, in the order given."""
    known = set(EVENT_TYPES)
    return list(dict.fromkeys(t for t in requested if t not in known))


def url_problem(url: str) -> str | None:
    """Why `url` cannot receive webhooks, or None."""
    if len(url) > URL_MAX:
        return f"must be at most {URL_MAX} characters"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "must be an http or https URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http or https URL"
    return None


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of 24 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float
    max_seconds: float
    horizon_seconds: float

    def delay(self, failures: int) -> float:
        """The wait after the `failures`-th failure in a row (1, 2, ...): base, doubling, capped."""
        return min(self.max_seconds, self.base_seconds * 2 ** min(max(failures - 1, 0), 60))

    def gives_up(self, failing_since: datetime, now: datetime) -> bool:
        """Past the horizon since the first failure in a row: the subscription is disabled."""
        return now - failing_since >= timedelta(seconds=self.horizon_seconds)


@dataclass(frozen=True)
class LaneHead:
    """The oldest undelivered message of one (subscription, organization) lane."""

    subscription_id: uuid.UUID
    organization_id: str
    seq: int
    next_attempt_at: datetime

    @property
    def lane(self) -> tuple[uuid.UUID, str]:
        return (self.subscription_id, self.organization_id)


def sendable(pending: Sequence[LaneHead], now: datetime, busy: Iterable[tuple[uuid.UUID, str]] = (),
             room: int | None = None) -> list[LaneHead]:
    """The ordering rule: a message goes only when no older message of its subscription and organization is
    undelivered, so only the oldest pending message of each lane may go, once it is due, and not while its
    lane is being delivered already; at most `room` lanes (oldest heads first)."""
    heads: dict[tuple[uuid.UUID, str], LaneHead] = {}
    for message in pending:
        if message.lane not in heads or message.seq < heads[message.lane].seq:
            heads[message.lane] = message
    taken = set(busy)
    due = sorted((h for h in heads.values() if h.next_attempt_at <= now and h.lane not in taken),
                 key=lambda h: h.seq)
    return due if room is None else due[:max(room, 0)]


def outcome_error(status: int | None, error: str | None) -> str:
    """An attempt's failure in a few words, for the log and the disabling reason."""
    return error if status is None else f"HTTP {status}"


class SubscriptionDisabled(Data):
    """The facts of `webhook.subscription_disabled` (for staff)."""

    subscription_id: str
    url: str
    reason: str
    failing_since: datetime
    message_id: str
    event_type: str
