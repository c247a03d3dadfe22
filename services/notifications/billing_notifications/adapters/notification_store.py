"""Notifications as recorded intents: inserted once per (type, dedupe key)."""
from __future__ import annotations

import uuid

import asyncpg

from billing_shared.events.notifications import NotificationCreatedData


async def record(conn: asyncpg.Connection, n: NotificationCreatedData, dedupe_key: str) -> bool:
    """True when this is the first notification of its (type, dedupe key)."""
    inserted = await conn.fetchval(
        """INSERT INTO notifications (notification_id, type, dedupe_key, source_event_id, organization_id,
                                      channels, email, ticket)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (type, dedupe_key) DO NOTHING
           RETURNING notification_id""",
        uuid.UUID(n.notification_id), n.type, dedupe_key, uuid.UUID(n.source_event_id), n.organization_id,
        list(n.channels), n.email.model_dump(mode="json") if n.email else None,
        n.ticket.model_dump(mode="json") if n.ticket else None,
    )
    return inserted is not None
