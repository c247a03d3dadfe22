"""Payment write-back state in SQL: the desired snapshot per payment, what was written, retries."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from billing_shared.events.payments import PaymentSnapshot

from billing_sync.adapters.db import Db


@dataclass(frozen=True)
class Desired:
    payment_id: str
    organization_id: str
    snapshot: PaymentSnapshot
    at: datetime
    applications: Mapping[str, Decimal]  # live applications: invoice id -> amount
    live: PaymentSnapshot | None = None  # the newest succeeded snapshot among these (None: keep the stored one)


async def stored_heads(conn: asyncpg.Connection, payment_ids: Sequence[str]) -> dict[str, tuple[datetime, str, dict]]:
    """payment id -> (desired_at, status, desired snapshot) of what is stored, rows locked."""
    rows = await conn.fetch(
        """SELECT payment_id, desired_at, desired FROM payment_writebacks
           WHERE payment_id = ANY($1::text[]) ORDER BY payment_id FOR UPDATE""", list(payment_ids))
    return {r["payment_id"]: (r["desired_at"], r["desired"]["status"], r["desired"]) for r in rows}


async def record_desired(conn: asyncpg.Connection, items: Sequence[Desired]) -> None:
    """Store new desired snapshots (already filtered by the caller) and their live applications."""
    if not items:
        return
    ids = [i.payment_id for i in items]
    await conn.execute(
        """INSERT INTO payment_writebacks AS w (payment_id, organization_id, desired, desired_at, live)
           SELECT u.payment_id, u.organization_id, u.desired::jsonb, u.desired_at, u.live::jsonb
           FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[])
                AS u(payment_id, organization_id, desired, desired_at, live)
           ON CONFLICT (payment_id) DO UPDATE SET desired = EXCLUDED.desired, desired_at = EXCLUDED.desired_at,
               live = coalesce(EXCLUDED.live, w.live),
               desired_seq = w.desired_seq + 1, attempts = 0, next_attempt_at = now(), updated_at = now()""",
        ids, [i.organization_id for i in items], [i.snapshot.model_dump_json() for i in items], [i.at for i in items],
        [i.live.model_dump_json() if i.live is not None else None for i in items],
    )
    pairs = [(i.payment_id, inv, amount) for i in items for inv, amount in i.applications.items()]
    await conn.execute(
        "UPDATE writeback_applications SET desired_amount = 0 WHERE payment_id = ANY($1::text[])", ids)
    if pairs:
        await conn.execute(
            """INSERT INTO writeback_applications (payment_id, invoice_id, desired_amount)
               SELECT * FROM unnest($1::text[], $2::text[], $3::numeric[])
               ON CONFLICT (payment_id, invoice_id) DO UPDATE SET desired_amount = EXCLUDED.desired_amount""",
            *[list(c) for c in zip(*pairs, strict=True)],
        )
    await conn.execute("SELECT pg_notify('sync_writeback', '')")


@dataclass(frozen=True)
class Pending:
    payment_id: str
    organization_id: str
    snapshot: PaymentSnapshot
    seq: int
    accounting_payment_id: str | None
    intent_at: datetime | None
    attempts: int
    written: dict[str, Decimal]
    live: PaymentSnapshot | None  # the newest snapshot in which it stood (succeeded), if any
    batch_key: str | None = None  # its create went out in this batch, whose answer is not recorded yet


async def due(conn: Db, limit: int) -> list[Pending]:
    rows = await conn.fetch(
        """SELECT w.payment_id, w.organization_id, w.desired, w.desired_seq, w.accounting_payment_id,
                  w.intent_at, w.attempts, w.live, w.batch_key,
                  coalesce((SELECT jsonb_object_agg(a.invoice_id, a.written_amount::text) FROM writeback_applications a
                            WHERE a.payment_id = w.payment_id AND a.written_amount > 0), '{}') AS written
           FROM payment_writebacks w
           WHERE w.desired_seq > w.done_seq AND w.next_attempt_at <= now()
           ORDER BY w.next_attempt_at, w.payment_id LIMIT $1""", limit)
    return [Pending(r["payment_id"], r["organization_id"], PaymentSnapshot.model_validate(r["desired"]),
                    r["desired_seq"], r["accounting_payment_id"], r["intent_at"],
                    r["attempts"], {k: Decimal(str(v)) for k, v in r["written"].items()},
                    PaymentSnapshot.model_validate(r["live"]) if r["live"] is not None else None,
                    r["batch_key"]) for r in rows]


async def claim_batch(conn: Db, batch_key: str, items: Mapping[str, str]) -> list[str]:
    """Record the create intent of a batch's members in one statement: payment id -> the item as sent (JSON).
    Only payments in no batch and with no intent or accounting payment yet are taken (a leader that lost its
    lock may be claiming the same ones); returns those taken, which alone may be sent under `batch_key`."""
    ids = list(items)
    rows = await conn.fetch(
        """UPDATE payment_writebacks w SET batch_key = $1, batch_item = u.item::jsonb, intent_at = now(),
               updated_at = now()
           FROM unnest($2::text[], $3::text[]) AS u(payment_id, item)
           WHERE w.payment_id = u.payment_id AND w.batch_key IS NULL AND w.intent_at IS NULL
                 AND w.accounting_payment_id IS NULL
           RETURNING w.payment_id""", batch_key, ids, [items[i] for i in ids])
    return [r["payment_id"] for r in rows]


async def batch_items(conn: Db, batch_key: str) -> dict[str, tuple[str, PaymentSnapshot]]:
    """payment id -> (the item as sent: JSON text, money exact; the desired snapshot now) of every member of
    `batch_key` not yet recorded."""
    rows = await conn.fetch(
        """SELECT payment_id, batch_item::text AS item, desired FROM payment_writebacks
           WHERE batch_key = $1""", batch_key)
    return {r["payment_id"]: (r["item"], PaymentSnapshot.model_validate(r["desired"])) for r in rows}


async def record_batch(conn: asyncpg.Connection, batch_key: str,
                       created: Sequence[tuple[str, str, Mapping[str, Decimal]]]) -> None:
    """The answer of batch `batch_key` for these members: (payment id, accounting payment id, amounts written
    per invoice); each leaves the batch (only while it is still in it: a replayed answer changes nothing)."""
    for payment_id, accounting_id, written in created:
        taken = await conn.fetchval(
            """UPDATE payment_writebacks SET batch_key = NULL, batch_item = NULL WHERE payment_id = $1
                   AND batch_key = $2 RETURNING payment_id""", payment_id, batch_key)
        if taken is not None:
            await record_written(conn, payment_id, accounting_id, False, written)


async def leave_batch(conn: Db, batch_key: str, payment_ids: Sequence[str]) -> None:
    """Accounting made no payment for these members under `batch_key` (their item was refused, or they were not
    in the batch that answered): they leave it with no intent, and a later batch creates them."""
    await conn.execute(
        """UPDATE payment_writebacks SET batch_key = NULL, batch_item = NULL, intent_at = NULL, updated_at = now()
           WHERE payment_id = ANY($1::text[]) AND batch_key = $2 AND accounting_payment_id IS NULL""",
        list(payment_ids), batch_key)


async def record_intent(conn: Db, payment_id: str) -> datetime:
    """About to create the accounting payment: a retry after a crash looks for it before creating."""
    return await conn.fetchval(
        """UPDATE payment_writebacks SET intent_at = coalesce(intent_at, now()) WHERE payment_id = $1
           RETURNING intent_at""", payment_id)


async def forget_accounting_payment(conn: Db, payment_id: str) -> None:
    """The accounting payment recorded for `payment_id` is not in the current books (reset, or another
    company): nothing there is ours to change; the next write creates it in these books."""
    await conn.execute(
        """UPDATE payment_writebacks SET accounting_payment_id = NULL, accounting_voided = false, intent_at = NULL,
               batch_key = NULL, batch_item = NULL, updated_at = now() WHERE payment_id = $1""", payment_id)


async def record_written(conn: asyncpg.Connection, payment_id: str, accounting_payment_id: str | None,
                         voided: bool, written: Mapping[str, Decimal]) -> None:
    """What accounting now holds for the payment: its id, whether it is voided, amounts per invoice."""
    await conn.execute(
        """UPDATE payment_writebacks SET accounting_payment_id = coalesce($2, accounting_payment_id),
               accounting_voided = $3, updated_at = now() WHERE payment_id = $1""",
        payment_id, accounting_payment_id, voided)
    await conn.execute("UPDATE writeback_applications SET written_amount = 0 WHERE payment_id = $1", payment_id)
    if written:
        invoices = list(written)
        await conn.execute(
            """INSERT INTO writeback_applications (payment_id, invoice_id, written_amount)
               SELECT $1, * FROM unnest($2::text[], $3::numeric[])
               ON CONFLICT (payment_id, invoice_id) DO UPDATE SET written_amount = EXCLUDED.written_amount""",
            payment_id, invoices, [written[i] for i in invoices])


async def accounting_payment_id(conn: Db, payment_id: str) -> str | None:
    """The accounting payment recorded for `payment_id` now (None: none in these books yet)."""
    return await conn.fetchval("SELECT accounting_payment_id FROM payment_writebacks WHERE payment_id = $1",
                               payment_id)


async def mark_done_many(conn: Db, done: Sequence[tuple[str, int]]) -> None:
    """`mark_done` of several payments (payment id, seq) in one statement."""
    await conn.execute(
        """UPDATE payment_writebacks w SET done_seq = greatest(w.done_seq, u.seq), attempts = 0, last_error = NULL,
               updated_at = now() FROM unnest($1::text[], $2::bigint[]) AS u(payment_id, seq)
           WHERE w.payment_id = u.payment_id""", [d[0] for d in done], [d[1] for d in done])


async def mark_done(conn: Db, payment_id: str, seq: int) -> None:
    await mark_done_many(conn, [(payment_id, seq)])


async def mark_failed(conn: Db, payment_id: str, error: str, delay_seconds: float) -> None:
    await conn.execute(
        """UPDATE payment_writebacks SET attempts = attempts + 1, last_error = $2,
               next_attempt_at = now() + make_interval(secs => $3), updated_at = now() WHERE payment_id = $1""",
        payment_id, error[:2000], delay_seconds)


async def live_applied(conn: Db, invoice_ids: Sequence[str]) -> dict[str, Decimal]:
    """Per invoice, what our live payments apply to it now (the newest snapshots)."""
    rows = await conn.fetch(
        """SELECT invoice_id, sum(desired_amount) AS applied FROM writeback_applications
           WHERE invoice_id = ANY($1::text[]) GROUP BY invoice_id""", list(invoice_ids))
    return {r["invoice_id"]: r["applied"] for r in rows}


async def listing(conn: Db, after: str, limit: int, pending_only: bool) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT payment_id, organization_id, desired->>'status' AS status, desired_seq, done_seq,
                  accounting_payment_id, accounting_voided, attempts, next_attempt_at, last_error, updated_at
           FROM payment_writebacks WHERE payment_id > $1 AND (NOT $3 OR desired_seq > done_seq)
           ORDER BY payment_id LIMIT $2""", after, limit, pending_only)

