"""Idempotency keys of POST /v1/payments: claimed first, linked to the payment, completed with the
response that is then replayed."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Claim:
    new: bool
    request_hash: str
    payment_id: str | None
    response_status: int | None
    response_body: dict[str, Any] | None

    @property
    def completed(self) -> bool:
        return self.response_status is not None


async def claim(conn: asyncpg.Pool | asyncpg.Connection, scope: str, key: str, request_hash: str) -> Claim:
    inserted = await conn.fetchval(
        """INSERT INTO idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING true""", scope, key, request_hash)
    if inserted:
        return Claim(True, request_hash, None, None, None)
    row = await conn.fetchrow("SELECT * FROM idempotency_keys WHERE scope = $1 AND key = $2", scope, key)
    if row is None:  # released between our insert and read: a retry will claim it
        return Claim(False, request_hash, None, None, None)
    return Claim(False, row["request_hash"], str(row["payment_id"]) if row["payment_id"] else None,
                 row["response_status"], row["response_body"])


async def attach(conn: asyncpg.Connection, scope: str, key: str, payment_id: str) -> None:
    await conn.execute("UPDATE idempotency_keys SET payment_id = $3 WHERE scope = $1 AND key = $2",
                       scope, key, uuid.UUID(payment_id))


async def complete(conn: asyncpg.Connection | asyncpg.Pool, scope: str, key: str, status: int, body: dict[str, Any]) -> None:
    await conn.execute(
        """UPDATE idempotency_keys SET response_status = $3, response_body = $4, completed_at = now()
           WHERE scope = $1 AND key = $2 AND response_status IS NULL""", scope, key, status, body)


async def complete_for_payment(conn: asyncpg.Connection, payment_id: str, status: int, body: dict[str, Any]) -> None:
    """The reconciler's way: the request that created a pending payment gets its final response."""
    await conn.execute(
        """UPDATE idempotency_keys SET response_status = $2, response_body = $3, completed_at = now()
           WHERE payment_id = $1 AND response_status IS NULL""", uuid.UUID(payment_id), status, body)


async def release(conn: asyncpg.Pool | asyncpg.Connection, scope: str, key: str) -> None:
    """Nothing happened under this key (the gateway was unreachable, another payment held the invoice):
    the same key may be used again."""
    await conn.execute(
        """DELETE FROM idempotency_keys
           WHERE scope = $1 AND key = $2 AND response_status IS NULL AND payment_id IS NULL""",
        scope, key)  # a key that names a recorded payment is never freed here: that payment may be charged


async def forget_payment(conn: asyncpg.Pool | asyncpg.Connection, payment_id: str) -> None:
    """The payment behind this key failed without reaching the gateway: free the key for a retry."""
    await conn.execute("DELETE FROM idempotency_keys WHERE payment_id = $1", uuid.UUID(payment_id))
