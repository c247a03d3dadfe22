"""Idempotency keys of POST /v1/payments: claimed first, linked to the payment, completed with the
response that is then replayed.

A claim that names no payment yet is a lease: after `lease_seconds` a retry of the same request takes it
over (the first holder crashed or is stuck before recording anything). Every later write names the
claim's `claim_id`, so a holder that lost its lease changes nothing."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Claim:
    new: bool  # this request holds the key now (a fresh key, or a lapsed lease taken over)
    request_hash: str
    payment_id: str | None
    response_status: int | None
    response_body: dict[str, Any] | None
    claim_id: str | None = None  # set when `new`: names this holder in attach, complete and release

    @property
    def completed(self) -> bool:
        return self.response_status is not None


async def claim(conn: asyncpg.Pool | asyncpg.Connection, scope: str, key: str, request_hash: str, *,
                lease_seconds: float) -> Claim:
    claim_id = uuid.uuid4()
    taken = await conn.fetchval(
        """INSERT INTO idempotency_keys AS k (scope, key, request_hash, claim_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (scope, key) DO UPDATE SET claim_id = EXCLUDED.claim_id, claimed_at = now()
               WHERE k.payment_id IS NULL AND k.response_status IS NULL AND k.request_hash = EXCLUDED.request_hash
                 AND k.claimed_at < now() - make_interval(secs => $5)
           RETURNING true""", scope, key, request_hash, claim_id, lease_seconds)
    if taken:
        return Claim(True, request_hash, None, None, None, str(claim_id))
    row = await conn.fetchrow("SELECT * FROM idempotency_keys WHERE scope = $1 AND key = $2", scope, key)
    if row is None:  # released between our insert and read: a retry will claim it
        return Claim(False, request_hash, None, None, None)
    return Claim(False, row["request_hash"], str(row["payment_id"]) if row["payment_id"] else None,
                 row["response_status"], row["response_body"])


async def attach(conn: asyncpg.Connection, scope: str, key: str, claim_id: str, payment_id: str) -> bool:
    """Name the payment under the key, in the payment's own transaction. False: the lease was taken
    over, so the caller must roll back (the key belongs to a retry now)."""
    attached = await conn.fetchval(
        """UPDATE idempotency_keys SET payment_id = $4
           WHERE scope = $1 AND key = $2 AND claim_id = $3 AND payment_id IS NULL AND response_status IS NULL
           RETURNING true""", scope, key, uuid.UUID(claim_id), uuid.UUID(payment_id))
    return bool(attached)


async def complete(conn: asyncpg.Connection | asyncpg.Pool, scope: str, key: str, claim_id: str, status: int,
                   body: dict[str, Any]) -> None:
    await conn.execute(
        """UPDATE idempotency_keys SET response_status = $4, response_body = $5, completed_at = now()
           WHERE scope = $1 AND key = $2 AND claim_id = $3 AND response_status IS NULL""",
        scope, key, uuid.UUID(claim_id), status, body)


async def complete_for_payment(conn: asyncpg.Connection, payment_id: str, status: int, body: dict[str, Any]) -> None:
    """The reconciler's way: the request that created a pending payment gets its final response."""
    await conn.execute(
        """UPDATE idempotency_keys SET response_status = $2, response_body = $3, completed_at = now()
           WHERE payment_id = $1 AND response_status IS NULL""", uuid.UUID(payment_id), status, body)


async def release(conn: asyncpg.Pool | asyncpg.Connection, scope: str, key: str, claim_id: str) -> None:
    """Nothing happened under this key (the gateway was unreachable, another payment held the invoice):
    the same key may be used again."""
    await conn.execute(
        """DELETE FROM idempotency_keys
           WHERE scope = $1 AND key = $2 AND claim_id = $3 AND response_status IS NULL AND payment_id IS NULL""",
        scope, key, uuid.UUID(claim_id))  # a key naming a recorded payment is never freed here: it may be charged


async def forget_payment(conn: asyncpg.Pool | asyncpg.Connection, payment_id: str) -> None:
    """The payment behind this key failed and the gateway never had its sale: free the key for a retry
    (it would otherwise replay a failure that charged nothing)."""
    await conn.execute("DELETE FROM idempotency_keys WHERE payment_id = $1", uuid.UUID(payment_id))
