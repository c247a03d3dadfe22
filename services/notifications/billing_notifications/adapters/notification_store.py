"""Notifications as recorded intents: inserted once per (type, dedupe key), with one delivery row
per channel in the same transaction."""
from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from billing_shared.events.notifications import NotificationCreatedData

from billing_notifications.adapters.delivery_store import WAKE_CHANNEL


async def record(conn: asyncpg.Connection, n: NotificationCreatedData, dedupe_key: str,
                 ticket_extra: dict[str, Any] | None = None) -> bool:
    """True when this is the first notification of its (type, dedupe key); its deliveries are
    recorded with it. `ticket_extra` are ticket fields beyond the contract (the status)."""
    ticket = {**n.ticket.model_dump(mode="json"), **(ticket_extra or {})} if n.ticket else None
    # One statement: the notification and, when it is new, its deliveries (one per channel), and the
    # NOTIFY that wakes the delivery workers when it commits (delivery_store.WAKE_CHANNEL).
    inserted = await conn.fetchval(
        """WITH n AS (
               INSERT INTO notifications (notification_id, type, dedupe_key, source_event_id, organization_id,
                                          channels, email, ticket)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (type, dedupe_key) DO NOTHING
               RETURNING notification_id),
           d AS (
               INSERT INTO deliveries (delivery_id, notification_id, type, organization_id, channel, recipients)
               SELECT gen_random_uuid(), n.notification_id, $2, $5, channel,
                      CASE WHEN channel = 'email' THEN $9::text[] ELSE '{}' END
               FROM n, unnest($6::text[]) AS channel)
           SELECT notification_id, pg_notify($10, '') FROM n""",
        uuid.UUID(n.notification_id), n.type, dedupe_key, uuid.UUID(n.source_event_id), n.organization_id,
        list(n.channels), n.email.model_dump(mode="json") if n.email else None, ticket,
        list(n.email.to) if n.email else [], WAKE_CHANNEL,
    )
    return inserted is not None
