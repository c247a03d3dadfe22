"""Idempotency keys of the manager actions on a payment (apply, refund, cancel)."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

Conn = asyncpg.Pool | asyncpg.Connection


@dataclass(frozen=True)
class ActionKey:
    request_hash: str
    payment_id: str
    response_status: int | None
    response_body: dict[str, Any] | None

    @property
    def answered(self) -> bool:
        return self.response_status is not None


async def find(conn: Conn, scope: str, key: str) -> ActionKey | None:
    row = await conn.fetchrow("SELECT * FROM action_keys WHERE scope = $1 AND key = $2", scope, key)
    if row is None:
        return None
    return ActionKey(row["request_hash"], str(row["payment_id"]), row["response_status"], row["response_body"])


async def record(conn: Conn, scope: str, key: str, request_hash: str, payment_id: str, *,
                 status: int | None = None, body: dict[str, Any] | None = None) -> bool:
    """Remember the key (with its answer when there is one). False: the key was taken meanwhile."""
    inserted = await conn.fetchval(
        """INSERT INTO action_keys (scope, key, request_hash, payment_id, response_status, response_body, completed_at)
           VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5::integer IS NULL THEN NULL ELSE now() END)
           ON CONFLICT (scope, key) DO NOTHING RETURNING true""",
        scope, key, request_hash, uuid.UUID(payment_id), status, body)
    return bool(inserted)


async def answer(conn: Conn, scope: str, key: str, status: int, body: dict[str, Any]) -> None:
    await conn.execute(
        """UPDATE action_keys SET response_status = $3, response_body = $4, completed_at = now()
           WHERE scope = $1 AND key = $2 AND response_status IS NULL""", scope, key, status, body)


async def forget(conn: Conn, scope: str, key: str) -> None:
    """Nothing happened under an unanswered key (the cancel was refused): it may be used again."""
    await conn.execute("DELETE FROM action_keys WHERE scope = $1 AND key = $2 AND response_status IS NULL",
                       scope, key)
