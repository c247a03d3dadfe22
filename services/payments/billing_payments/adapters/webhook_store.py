"""Gateway webhooks as received: the first delivery of an event id (or nonce) is recorded, repeats are not."""
from __future__ import annotations

from typing import Any

import asyncpg


async def record(conn: asyncpg.Connection, event_id: str, nonce: str, event_type: str, order_id: str | None,
                 body: dict[str, Any]) -> bool:
    """True when this delivery is new; a repeated event id or nonce answers False."""
    inserted = await conn.fetchval(
        """INSERT INTO webhook_events (event_id, nonce, event_type, order_id, body) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT DO NOTHING RETURNING true""", event_id, nonce, event_type, order_id, body)
    return bool(inserted)


async def set_outcome(conn: asyncpg.Connection, event_id: str, outcome: str) -> None:
    await conn.execute("UPDATE webhook_events SET outcome = $2 WHERE event_id = $1", event_id, outcome)
