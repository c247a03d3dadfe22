"""Gateway webhooks as received: the first delivery of an event id (or nonce) is recorded, repeats are not."""
from __future__ import annotations

from typing import Any

import asyncpg


async def record(conn: asyncpg.Connection | asyncpg.Pool, event_id: str, nonce: str, event_type: str,
                 order_id: str | None, body: dict[str, Any], outcome: str) -> bool:
    """True when this delivery is new; a repeated event id or nonce answers False."""
    inserted = await conn.fetchval(
        """INSERT INTO webhook_events (event_id, nonce, event_type, order_id, body, outcome)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING true""",
        event_id, nonce, event_type, order_id, body, outcome)
    return bool(inserted)

