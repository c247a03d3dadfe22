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


Outbox = tuple[list[str], list[str], list[str], list[str]]  # event_id, topic, key, payload (`Tx.take`)
_NO_EVENTS: Outbox = ([], [], [], [])


async def complete_for_payment(conn: asyncpg.Connection, payment_id: str, status: int, body: dict[str, Any], *,
                               free_invoices: list[str] | None = None, outbox: Outbox = _NO_EVENTS) -> None:
    """The request that created a pending payment gets its final response (whoever learnt the outcome).
    In the same statement: `free_invoices`, the invoices the payment held in flight, are freed, and `outbox`,
    the transaction's events (when this is its last statement), is written."""
    await conn.execute(
        """WITH freed AS (UPDATE invoices SET in_flight_payment_id = NULL
                          WHERE invoice_id = ANY($4::text[])),
                events AS (INSERT INTO outbox (event_id, topic, key, payload)
                           SELECT * FROM unnest($5::uuid[], $6::text[], $7::text[], $8::text[]))
           UPDATE idempotency_keys SET response_status = $2, response_body = $3, completed_at = now()
           WHERE payment_id = $1 AND response_status IS NULL""",
        uuid.UUID(payment_id), status, body, free_invoices or [], *outbox)


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


@dataclass(frozen=True)
class Held:
    """A key found already in the table: answered from (`claim`), unless its lease has lapsed (`lapsed`: a
    holder that named no payment died; the key may be taken over)."""
    claim: Claim
    lapsed: bool


async def find(conn: asyncpg.Pool | asyncpg.Connection, scope: str, key: str, *, lease_seconds: float) -> Held | None:
    row = await conn.fetchrow(
        """SELECT *, (payment_id IS NULL AND response_status IS NULL
                      AND claimed_at < now() - make_interval(secs => $3)) AS lapsed
           FROM idempotency_keys WHERE scope = $1 AND key = $2""", scope, key, lease_seconds)
    return held_of(row) if row else None


def held_of(row: asyncpg.Record, prefix: str = "") -> Held:
    """A `Held` from a row that names the key's columns with `prefix` (a read joined to other tables)."""
    return Held(Claim(False, row[prefix + "request_hash"],
                      str(row[prefix + "payment_id"]) if row[prefix + "payment_id"] else None,
                      row[prefix + "response_status"], row[prefix + "response_body"]), bool(row[prefix + "lapsed"]))


async def claim_for_payment(conn: asyncpg.Connection, scope: str, key: str, request_hash: str, payment_id: str, *,
                            lease_seconds: float) -> bool:
    """Claim the key and name its payment at once, inside the transaction that records the payment: the
    claim and the pending row become durable in one commit, and a request that dies before it leaves no
    claim behind. False: another request holds the key (waits for that request's transaction first)."""
    return bool(await conn.fetchval(
        """INSERT INTO idempotency_keys AS k (scope, key, request_hash, claim_id, payment_id)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (scope, key) DO UPDATE SET claim_id = EXCLUDED.claim_id, claimed_at = now(),
                                                  payment_id = EXCLUDED.payment_id
               WHERE k.payment_id IS NULL AND k.response_status IS NULL AND k.request_hash = EXCLUDED.request_hash
                 AND k.claimed_at < now() - make_interval(secs => $6)
           RETURNING true""", scope, key, request_hash, uuid.uuid4(), uuid.UUID(payment_id), lease_seconds))


async def record_refusal(conn: asyncpg.Pool | asyncpg.Connection, scope: str, key: str, request_hash: str,
                         status: int, body: dict[str, Any], *, lease_seconds: float) -> bool:
    """A request refused before anything was recorded: the refusal is the key's answer, replayed to a retry
    (one statement: claim and answer). False: another request holds the key."""
    return bool(await conn.fetchval(
        """INSERT INTO idempotency_keys AS k (scope, key, request_hash, claim_id, response_status, response_body,
                                              completed_at)
           VALUES ($1, $2, $3, $4, $5, $6, now())
           ON CONFLICT (scope, key) DO UPDATE SET claim_id = EXCLUDED.claim_id, claimed_at = now(),
                                                  response_status = EXCLUDED.response_status,
                                                  response_body = EXCLUDED.response_body, completed_at = now()
               WHERE k.payment_id IS NULL AND k.response_status IS NULL AND k.request_hash = EXCLUDED.request_hash
                 AND k.claimed_at < now() - make_interval(secs => $7)
           RETURNING true""", scope, key, request_hash, uuid.uuid4(), status, body, lease_seconds))
