"""Delivery rows: claimed under a lease, sent outside any transaction, then recorded under the
same claim token (a worker whose lease was taken over records nothing)."""
from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from billing_notifications.adapters.directory_store import recipient_query


WAKE_CHANNEL = "notifications_deliveries"  # NOTIFY at the commit of a new notification: its deliveries are due


@dataclass(frozen=True)
class Claimed:
    id: int
    delivery_id: uuid.UUID
    notification_id: uuid.UUID
    type: str
    organization_id: str
    channel: str
    attempts: int  # including the one this claim is for
    claim_token: uuid.UUID
    outcome_unknown: bool  # an earlier attempt may have delivered
    recipients: list[str]
    email: dict[str, Any] | None
    ticket: dict[str, Any] | None
    created_at: datetime  # when the notification was recorded
    retry_since: datetime  # when this delivery's retry window opened (recorded, or re-driven)
    # An email's organization address as the directory knows it at the claim, right before sending
    # (None: not looked up; the channel asks the directory itself).
    directory_recipients: list[str] | None = None


_CLAIM = """WITH due AS (
       SELECT id FROM deliveries
       WHERE status = 'pending' AND next_attempt_at <= now()
         AND (claimed_until IS NULL OR claimed_until < now()) {lane}
       ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
   UPDATE deliveries d SET attempts = d.attempts + 1,
       outcome_unknown = d.outcome_unknown OR d.claim_token IS NOT NULL,
       claim_token = gen_random_uuid(), claimed_until = now() + make_interval(secs => $2),
       updated_at = now()
   FROM due, notifications n
   WHERE d.id = due.id AND n.notification_id = d.notification_id
   RETURNING d.id, d.delivery_id, d.notification_id, d.type, d.organization_id, d.channel, d.attempts,
             d.claim_token, d.outcome_unknown, d.recipients, n.email, n.ticket, n.created_at,
             d.retry_since,
             CASE WHEN d.channel = 'email' THEN ARRAY(SELECT a FROM ({recipient}) AS r (a)) END
                 AS directory_recipients"""
_CLAIM_ANY = _CLAIM.format(lane="", recipient=recipient_query("d.organization_id"))
_CLAIM_CHANNEL = _CLAIM.format(lane="AND channel = $3", recipient=recipient_query("d.organization_id"))


async def claim_due(conn: asyncpg.Connection, *, limit: int, lease_seconds: float,
                    channel: str | None = None) -> list[Claimed]:
    """Take up to `limit` due deliveries, of one `channel` (its own lane: due emails never wait
    behind due tickets) or of any. A row still claimed by a lease that ran out was being sent by a
    worker that died (or one too slow to keep its lease): its outcome is unknown."""
    if channel is None:
        rows = await conn.fetch(_CLAIM_ANY, limit, lease_seconds)
    else:
        rows = await conn.fetch(_CLAIM_CHANNEL, limit, lease_seconds, channel)
    return [Claimed(**dict(r)) for r in rows]


async def renew_claim(conn: asyncpg.Connection, c: Claimed, *, lease_seconds: float) -> bool:
    """Right before an attempt: is the claim still ours? If so its lease starts again now. False
    when another worker has claimed the row since (our lease ran out) or it is no longer pending:
    then this worker must not attempt it."""
    renewed = await conn.fetchval(
        """UPDATE deliveries SET claimed_until = now() + make_interval(secs => $3), updated_at = now()
           WHERE id = $1 AND claim_token = $2 AND status = 'pending' RETURNING id""",
        c.id, c.claim_token, lease_seconds,
    )
    return renewed is not None


async def mark_delivered(conn: asyncpg.Connection, c: Claimed, *, external_id: str | None,
                         recipients: list[str]) -> bool:
    done = await conn.fetchval(
        """UPDATE deliveries SET status = 'delivered', external_id = $3, recipients = $4, claim_token = NULL,
               claimed_until = NULL, outcome_unknown = false, waiting = false, last_error = NULL,
               finished_at = now(), updated_at = now()
           WHERE id = $1 AND claim_token = $2 RETURNING id""",
        c.id, c.claim_token, external_id, recipients,
    )
    return done is not None


async def mark_delivered_many(conn: asyncpg.Connection,
                              rows: list[tuple[Claimed, str | None, list[str]]]) -> set[int]:
    """`mark_delivered` for many deliveries in one statement, each under its own claim token; answers
    the ids recorded (a row whose claim was taken over is not)."""
    ordered = sorted(rows, key=lambda row: row[0].id)
    done = await conn.fetch(
        """UPDATE deliveries d SET status = 'delivered', external_id = u.external_id,
               recipients = ARRAY(SELECT jsonb_array_elements_text(u.recipients::jsonb)), claim_token = NULL,
               claimed_until = NULL, outcome_unknown = false, waiting = false, last_error = NULL,
               finished_at = now(), updated_at = now()
           FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[]) AS u (id, claim_token, external_id, recipients)
           WHERE d.id = u.id AND d.claim_token = u.claim_token RETURNING d.id""",
        [c.id for c, _, _ in ordered], [c.claim_token for c, _, _ in ordered], [e for _, e, _ in ordered],
        [json.dumps(r) for _, _, r in ordered],
    )
    return {r["id"] for r in done}


async def mark_retry(conn: asyncpg.Connection, c: Claimed, *, delay_seconds: float, reason: str,
                     outcome_unknown: bool, waiting: bool) -> bool:
    done = await conn.fetchval(
        """UPDATE deliveries SET next_attempt_at = now() + make_interval(secs => $3), last_error = $4,
               outcome_unknown = $5, waiting = $6, claim_token = NULL, claimed_until = NULL, updated_at = now()
           WHERE id = $1 AND claim_token = $2 RETURNING id""",
        c.id, c.claim_token, delay_seconds, reason, outcome_unknown, waiting,
    )
    return done is not None


async def mark_failed(conn: asyncpg.Connection, c: Claimed, *, reason: str) -> bool:
    done = await conn.fetchval(
        """UPDATE deliveries SET status = 'failed', last_error = $3, claim_token = NULL, claimed_until = NULL,
               waiting = false, finished_at = now(), updated_at = now()
           WHERE id = $1 AND claim_token = $2 RETURNING id""",
        c.id, c.claim_token, reason,
    )
    return done is not None


async def wake_waiting(conn: asyncpg.Connection, organization_id: str) -> None:
    """The directory changed for this organization: emails waiting for an address try again now."""
    await conn.execute(
        """UPDATE deliveries SET next_attempt_at = now(), updated_at = now()
           WHERE status = 'pending' AND waiting AND organization_id = $1 AND next_attempt_at > now()""",
        organization_id,
    )


async def redrive(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> str | None:
    """Put a `failed` delivery back to due, with a new retry window; it keeps its notification, so
    the ticket marker and the email's Message-ID still apply. A ticket is looked up by its marker
    before it is created again (a failed attempt's create may have happened after all). Answers the
    delivery's status before the call ('failed' when re-driven), or None when there is no such
    delivery."""
    row = await conn.fetchrow("SELECT status FROM deliveries WHERE delivery_id = $1 FOR UPDATE", delivery_id)
    if row is None:
        return None
    if row["status"] == "failed":
        await conn.execute(
            """UPDATE deliveries SET status = 'pending', next_attempt_at = now(), retry_since = now(),
                   finished_at = NULL, waiting = false, claim_token = NULL, claimed_until = NULL,
                   outcome_unknown = outcome_unknown OR channel = 'ticket', updated_at = now()
               WHERE delivery_id = $1""",
            delivery_id,
        )
    return row["status"]


async def one(conn: asyncpg.Connection, delivery_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT d.*, n.source_event_id FROM deliveries d JOIN notifications n USING (notification_id)
           WHERE d.delivery_id = $1""",
        delivery_id,
    )


async def page(conn: asyncpg.Connection, *, kind: str | None, status: str | None, limit: int,
               before_id: int | None) -> list[asyncpg.Record]:
    """Newest first; `limit + 1` rows so the caller can tell whether a next page exists."""
    return await conn.fetch(
        """SELECT d.*, n.source_event_id FROM deliveries d JOIN notifications n USING (notification_id)
           WHERE ($1::text IS NULL OR d.type = $1) AND ($2::text IS NULL OR d.status = $2)
             AND ($3::bigint IS NULL OR d.id < $3)
           ORDER BY d.id DESC LIMIT $4""",
        kind, status, before_id, limit + 1,
    )
