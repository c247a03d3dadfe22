"""Notifications as recorded intents: inserted once per (type, dedupe key), with one delivery row
per channel in the same transaction."""
from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from billing_shared.events.notifications import NotificationCreatedData


async def record(conn: asyncpg.Connection, n: NotificationCreatedData, dedupe_key: str,
                 ticket_extra: dict[str, Any] | None = None) -> bool:
    """True when this is the first notification of its (type, dedupe key); its deliveries are
    recorded with it. `ticket_extra` are ticket fields beyond the contract (the status)."""
    ticket = {**n.ticket.model_dump(mode="json"), **(ticket_extra or {})} if n.ticket else None
    inserted = await conn.fetchval(
        """INSERT INTO notifications (notification_id, type, dedupe_key, source_event_id, organization_id,
                                      channels, email, ticket)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (type, dedupe_key) DO NOTHING
           RETURNING notification_id""",
        uuid.UUID(n.notification_id), n.type, dedupe_key, uuid.UUID(n.source_event_id), n.organization_id,
        list(n.channels), n.email.model_dump(mode="json") if n.email else None, ticket,
    )
    if inserted is None:
        return False
    if n.channels:
        await conn.execute(
            """INSERT INTO deliveries (delivery_id, notification_id, type, organization_id, channel, recipients)
               SELECT gen_random_uuid(), $1, $2, $3, channel, CASE WHEN channel = 'email' THEN $5::text[] ELSE '{}' END
               FROM unnest($4::text[]) AS channel""",
            inserted, n.type, n.organization_id, list(n.channels), list(n.email.to) if n.email else [],
        )
    return True
