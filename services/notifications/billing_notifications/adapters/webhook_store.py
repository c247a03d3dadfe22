"""Webhook subscriptions (secrets sealed), their messages and the log of delivery attempts."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from billing_shared.events import Event
from billing_shared.secrets import SecretBox

from billing_notifications.domain.webhooks import LaneHead

CHANNEL = "notifications_webhooks"  # wakes the delivery leader (NOTIFY is delivered on commit)
LOCK = "notifications-webhooks"
Db = asyncpg.Pool | asyncpg.Connection

_SUBSCRIPTION = ("subscription_id, url, event_types, enabled, disabled_reason, created_at, updated_at, "
                 "(SELECT count(*) FROM webhook_messages m WHERE m.subscription_id = s.subscription_id "
                 "AND m.status = 'pending') AS pending")


async def create(db: Db, box: SecretBox, url: str, event_types: Sequence[str], secret: str) -> asyncpg.Record:
    return await db.fetchrow(
        f"""INSERT INTO webhook_subscriptions AS s (subscription_id, url, event_types, secret_sealed)
            VALUES ($1, $2, $3, $4) RETURNING {_SUBSCRIPTION}""",
        uuid.uuid4(), url, list(event_types), box.seal(secret))


async def subscriptions(db: Db) -> list[asyncpg.Record]:
    return await db.fetch(f"SELECT {_SUBSCRIPTION} FROM webhook_subscriptions s ORDER BY created_at, subscription_id")


async def subscription(db: Db, subscription_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {_SUBSCRIPTION} FROM webhook_subscriptions s WHERE subscription_id = $1",
                             subscription_id)


async def update(db: Db, subscription_id: uuid.UUID, *, url: str | None = None,
                 event_types: Sequence[str] | None = None, enabled: bool | None = None) -> asyncpg.Record | None:
    """Enabling again makes every waiting message due now, with a fresh retry horizon."""
    async with _transaction(db) as conn:
        row = await conn.fetchrow(
            f"""UPDATE webhook_subscriptions AS s SET url = coalesce($2, url),
                    event_types = coalesce($3, event_types), enabled = coalesce($4, enabled),
                    disabled_reason = CASE WHEN $4 IS NULL THEN disabled_reason
                                           WHEN $4 THEN NULL ELSE 'disabled by an admin' END,
                    updated_at = now()
                WHERE subscription_id = $1 RETURNING {_SUBSCRIPTION}""",
            subscription_id, url, list(event_types) if event_types is not None else None, enabled)
        if row is not None and enabled:
            await conn.execute(
                """UPDATE webhook_messages SET next_attempt_at = now(), attempts = 0, failing_since = NULL
                   WHERE subscription_id = $1 AND status = 'pending'""", subscription_id)
            await notify(conn)
        return row


async def rotate(db: Db, box: SecretBox, subscription_id: uuid.UUID, secret: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"""UPDATE webhook_subscriptions AS s SET secret_sealed = $2, updated_at = now()
            WHERE subscription_id = $1 RETURNING {_SUBSCRIPTION}""", subscription_id, box.seal(secret))


async def delete(db: Db, subscription_id: uuid.UUID) -> bool:
    return (await db.execute("DELETE FROM webhook_subscriptions WHERE subscription_id = $1",
                             subscription_id)).split()[-1] != "0"


async def enqueue_many(conn: asyncpg.Connection, events: Sequence[Event]) -> int:
    """One message per enabled subscription that wants each event's type (once per event and subscription), for a run
    of events, in their order: one statement to learn which types are wanted
    (every event of every topic comes here, most wanted by no subscription: those cost no more, not
    even their body), then one that records the messages of those that are."""
    if not events:
        return 0
    wanted = set(await conn.fetchval(
        "SELECT coalesce(array_agg(DISTINCT t), '{}') FROM webhook_subscriptions, unnest(event_types) AS t "
        "WHERE enabled AND t = ANY($1::text[])", list({e.event_type for e in events})))
    chosen = [e for e in events if e.event_type in wanted]
    if not chosen:
        return 0
    inserted = await conn.fetch(
        """INSERT INTO webhook_messages (message_id, subscription_id, organization_id, event_id, event_type,
                                         occurred_at, body)
           SELECT gen_random_uuid(), s.subscription_id, e.organization_id, e.event_id, e.event_type, e.occurred_at,
                  e.body
           FROM unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], $5::text[])
                WITH ORDINALITY AS e (organization_id, event_id, event_type, occurred_at, body, n)
           JOIN webhook_subscriptions s ON s.enabled AND e.event_type = ANY(s.event_types)
           ORDER BY e.n, s.subscription_id
           ON CONFLICT (subscription_id, event_id) DO NOTHING RETURNING message_id""",
        [e.organization_id for e in chosen], [e.event_id for e in chosen], [e.event_type for e in chosen],
        [e.occurred_at for e in chosen], [e.to_json().decode() for e in chosen])
    if inserted:
        await notify(conn)
    return len(inserted)


async def notify(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)


async def lane_heads(db: Db) -> list[LaneHead]:
    """The oldest pending message of each (subscription, organization) of the enabled subscriptions."""
    rows = await db.fetch(
        """SELECT DISTINCT ON (m.subscription_id, m.organization_id)
                  m.subscription_id, m.organization_id, m.seq, m.next_attempt_at
           FROM webhook_messages m JOIN webhook_subscriptions s USING (subscription_id)
           WHERE m.status = 'pending' AND s.enabled
           ORDER BY m.subscription_id, m.organization_id, m.seq""")
    return [LaneHead(r["subscription_id"], r["organization_id"], r["seq"], r["next_attempt_at"]) for r in rows]


@dataclass(frozen=True)
class Outgoing:
    message_id: uuid.UUID
    seq: int
    subscription_id: uuid.UUID
    organization_id: str
    event_type: str
    body: str
    url: str
    secret: str
    attempts: int
    failing_since: datetime | None
    next_attempt_at: datetime


async def head(db: Db, box: SecretBox, subscription_id: uuid.UUID, organization_id: str) -> Outgoing | None:
    """The lane's oldest pending message with where and how to send it (None: the lane is empty, or its
    subscription was disabled or deleted meanwhile)."""
    row = await db.fetchrow(
        """SELECT m.message_id, m.seq, m.subscription_id, m.organization_id, m.event_type, m.body, m.attempts,
                  m.failing_since, m.next_attempt_at, s.url, s.secret_sealed
           FROM webhook_messages m JOIN webhook_subscriptions s USING (subscription_id)
           WHERE m.subscription_id = $1 AND m.organization_id = $2 AND m.status = 'pending' AND s.enabled
           ORDER BY m.seq LIMIT 1""", subscription_id, organization_id)
    if row is None:
        return None
    return Outgoing(row["message_id"], row["seq"], row["subscription_id"], row["organization_id"],
                    row["event_type"], row["body"], row["url"], box.open(row["secret_sealed"]), row["attempts"],
                    row["failing_since"], row["next_attempt_at"])


async def log_attempt(conn: asyncpg.Connection, message_id: uuid.UUID, at: datetime, status_code: int | None,
                      error: str | None, duration_ms: int) -> None:
    await conn.execute(
        """INSERT INTO webhook_attempts (message_id, attempted_at, status_code, error, duration_ms)
           VALUES ($1, $2, $3, $4, $5)""", message_id, at, status_code, error, duration_ms)


async def mark_delivered(conn: asyncpg.Connection, message_id: uuid.UUID, at: datetime) -> None:
    await conn.execute(
        """UPDATE webhook_messages SET status = 'delivered', delivered_at = $2, attempts = 0, failing_since = NULL,
                  last_error = NULL WHERE message_id = $1""", message_id, at)


async def mark_failed(conn: asyncpg.Connection, message_id: uuid.UUID, *, error: str, failing_since: datetime,
                      next_attempt_at: datetime) -> None:
    await conn.execute(
        """UPDATE webhook_messages SET attempts = attempts + 1, last_error = $2, failing_since = $3,
                  next_attempt_at = $4 WHERE message_id = $1""", message_id, error, failing_since, next_attempt_at)


async def disable(conn: asyncpg.Connection, subscription_id: uuid.UUID, reason: str) -> bool:
    """False when it was disabled (or deleted) already."""
    return (await conn.execute(
        """UPDATE webhook_subscriptions SET enabled = false, disabled_reason = $2, updated_at = now()
           WHERE subscription_id = $1 AND enabled""", subscription_id, reason)).split()[-1] != "0"


async def replay(db: Db, subscription_id: uuid.UUID, *, message_id: uuid.UUID | None = None,
                 since: datetime | None = None, until: datetime | None = None) -> int:
    """Make messages pending again (due now) to be sent once more under their own webhook-id, in their order."""
    async with _transaction(db) as conn:
        status = await conn.execute(
            """UPDATE webhook_messages SET status = 'pending', next_attempt_at = now(), attempts = 0,
                      failing_since = NULL, delivered_at = NULL
               WHERE subscription_id = $1 AND ($2::uuid IS NULL OR message_id = $2)
                 AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)""",
            subscription_id, message_id, since, until)
        count = int(status.split()[-1])
        if count:
            await notify(conn)
        return count


async def message(db: Db, message_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT message_id, subscription_id FROM webhook_messages WHERE message_id = $1",
                             message_id)


async def messages(db: Db, subscription_id: uuid.UUID, *, status: str | None, limit: int,
                   before_seq: int | None) -> list[dict[str, Any]]:
    """Newest first, each with its attempts (oldest first)."""
    rows = await db.fetch(
        """SELECT m.message_id, m.seq, m.organization_id, m.event_id, m.event_type, m.occurred_at, m.status,
                  m.attempts, m.next_attempt_at, m.last_error, m.created_at, m.delivered_at,
                  coalesce((SELECT jsonb_agg(jsonb_build_object(
                        'attempted_at', a.attempted_at, 'status_code', a.status_code, 'error', a.error,
                        'duration_ms', a.duration_ms) ORDER BY a.attempt_id)
                    FROM webhook_attempts a WHERE a.message_id = m.message_id), '[]'::jsonb) AS log
           FROM webhook_messages m
           WHERE m.subscription_id = $1 AND ($2::text IS NULL OR m.status = $2)
             AND ($3::bigint IS NULL OR m.seq < $3)
           ORDER BY m.seq DESC LIMIT $4""", subscription_id, status, before_seq, limit)
    return [dict(r) for r in rows]


@asynccontextmanager
async def _transaction(db: Db) -> AsyncIterator[asyncpg.Connection]:
    """A transaction on a connection of the pool, or on the connection given."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn, conn.transaction():
            yield conn
    else:
        async with db.transaction():
            yield db
