"""Payments in SQL. A payment loads in one query (its entries and rows as JSON arrays); saving writes
the payment row under its version and inserts only the entries and rows that are new."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from billing_payments.adapters import invoice_store
from billing_payments.adapters.invoice_store import Moved
from billing_payments.domain.payment import Allocation, ApplicationEntry, Method, Payment, TransactionRow

_SELECT = """
SELECT p.*,
  (SELECT coalesce(json_agg(json_build_object('invoice_id', e.invoice_id, 'amount', e.amount::text,
                                              'reason', e.reason) ORDER BY e.id), '[]')
     FROM application_entries e WHERE e.payment_id = p.payment_id) AS entries,
  (SELECT coalesce(json_agg(json_build_object('type', t.type, 'amount', t.amount::text, 'at', t.at,
                                              'transaction_id', t.transaction_id,
                                              'failure_reason', CASE WHEN t.gateway_status = 'returned'
                                                                     THEN t.gateway_error END) ORDER BY t.seq), '[]')
     FROM payment_transactions t WHERE t.payment_id = p.payment_id) AS transactions
FROM payments p
"""


_LOCK_AND_READ = _SELECT.replace(
    "FROM payments p",
    ", (SELECT s.version FROM payments s WHERE s.payment_id = p.payment_id) AS seen_version FROM payments p",
) + " WHERE p.payment_id = $1 FOR UPDATE OF p"


class ConcurrentUpdate(Exception):
    """The payment changed under us: callers lock it first, so this is a bug, not a race to retry."""


def _payment(row: asyncpg.Record) -> Payment:
    return Payment(
        payment_id=str(row["payment_id"]), invoice_id=row["invoice_id"], organization_id=row["organization_id"],
        contact_id=row["contact_id"], environment=row["environment"],
        method=Method(row["method_type"], row["method_brand"], row["method_last4"]), currency=row["currency"],
        original_amount=row["original_amount"], created_at=row["created_at"], status=row["status"],
        failure_reason=row["failure_reason"], transaction_id=row["transaction_id"],
        sale_amount=row["sale_amount"], unapplied_amount=row["unapplied_amount"],
        refund_amount=row["refund_amount"], version=row["version"], gateway_reversal=row["gateway_reversal"],
        entries=tuple(ApplicationEntry(e["invoice_id"], Decimal(e["amount"]), e["reason"]) for e in row["entries"]),
        transactions=tuple(TransactionRow(t["type"], Decimal(t["amount"]), datetime.fromisoformat(t["at"]),
                                          t["transaction_id"], t["failure_reason"]) for t in row["transactions"]),
        allocations=tuple(Allocation(a["invoice_id"], Decimal(a["amount"]))
                          for a in row["allocations"] or ()),
        origin=row["origin"],
    )


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except (ValueError, TypeError):
        return None


async def load(conn: asyncpg.Connection, payment_id: str, *, for_update: bool = False) -> Payment | None:
    pid = _uuid(payment_id)
    if pid is None:
        return None
    if for_update:
        # A statement that waits for a row lock (or finds the row changed since its snapshot) returns the
        # row as it is now but reads every other table (the entries, the rows) from the snapshot it took
        # before, in READ COMMITTED. `seen_version` is the version in that snapshot: when it is the locked
        # row's own, no writer came in between and the read is whole. Only a pending payment is trusted so:
        # it has no refund rows, the one kind of row changed without a new version. Otherwise it is read
        # again, under the lock now held.
        row = await conn.fetchrow(_LOCK_AND_READ, pid)
        if row is None:
            return None
        if row["status"] == "pending" and row["version"] == row["seen_version"]:
            return _payment(row)
    row = await conn.fetchrow(_SELECT + " WHERE p.payment_id = $1", pid)
    return _payment(row) if row else None


async def made_between(conn: asyncpg.Connection | asyncpg.Pool, start: datetime, end: datetime) -> list[Payment]:
    """Payments created in [start, end), oldest first."""
    rows = await conn.fetch(_SELECT + " WHERE p.created_at >= $1 AND p.created_at < $2 ORDER BY p.created_at",
                            start, end)
    return [_payment(r) for r in rows]


async def load_many(conn: asyncpg.Connection | asyncpg.Pool, payment_ids: Sequence[str]) -> list[Payment]:
    """The payments among these ids (ids that are no payment's, or no uuid, are left out)."""
    ids = [u for u in (_uuid(i) for i in payment_ids) if u is not None]
    rows = await conn.fetch(_SELECT + " WHERE p.payment_id = ANY($1::uuid[])", ids) if ids else []
    return [_payment(r) for r in rows]


async def insert(conn: asyncpg.Connection, p: Payment, *, vault_id: str | None, method_id: str | None,
                 in_flight: Sequence[str] = ()) -> None:
    """Insert a new payment; the invoices in `in_flight` (locked by the caller) are marked in flight by it, in
    the same statement."""
    await conn.execute(
        """WITH p AS (
             INSERT INTO payments (payment_id, invoice_id, organization_id, contact_id, environment, method_type,
                                   method_brand, method_last4, method_id, vault_id, currency, original_amount, status,
                                   created_at, allocations, origin)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb, $16)
             RETURNING payment_id)
           UPDATE invoices SET in_flight_payment_id = (SELECT payment_id FROM p) WHERE invoice_id = ANY($17::text[])""",
        uuid.UUID(p.payment_id), p.invoice_id, p.organization_id, p.contact_id, p.environment, p.method.type,
        p.method.brand, p.method.last4, _uuid(method_id) if method_id else None, vault_id, p.currency,
        p.original_amount, p.status, p.created_at,
        [{"invoice_id": a.invoice_id, "amount": str(a.amount)} for a in p.allocations] if p.allocations else None,
        p.origin, list(in_flight),
    )


_SAVE = """
    u AS (
      UPDATE payments SET status = $3, failure_reason = $4, transaction_id = $5, sale_amount = $6,
                          unapplied_amount = $7, refund_amount = $8, gateway_reversal = $9,
                          -- a new cancel intent is leased to the request that records it; a settled one
                          -- holds no lease, and a dropped one (nothing moved) forgets that anything was sent
                          reversal_claimed_at = CASE WHEN $9 IS DISTINCT FROM 'pending' THEN NULL
                                                     WHEN gateway_reversal IS DISTINCT FROM 'pending' THEN now()
                                                     ELSE reversal_claimed_at END,
                          reversal_sent = reversal_sent AND $9 IS NOT NULL,
                          version = version + 1, updated_at = now()
      WHERE payment_id = $1 AND version = $2
      RETURNING payment_id),
    e AS (
      INSERT INTO application_entries (payment_id, invoice_id, amount, reason)
      SELECT u.payment_id, x.invoice_id, x.amount, x.reason
      FROM u, unnest($10::text[], $11::numeric[], $12::text[]) WITH ORDINALITY AS x (invoice_id, amount, reason, n)
      ORDER BY x.n),
    t AS (
      INSERT INTO payment_transactions (payment_id, seq, type, amount, at, transaction_id, gateway_status)
      SELECT u.payment_id, x.* FROM u, unnest($13::int[], $14::text[], $15::numeric[], $16::timestamptz[],
                                              $17::text[], $18::text[]) AS x)"""
# The ledger's moves onto or off invoices, with the payment's save (only if the save's version matched).
_SAVE_AND_MOVE = f"""WITH {_SAVE},
    m AS ({invoice_store.MOVE_APPLIED.format(source="u, unnest($19::text[], $20::numeric[])", today="$21")})
    SELECT c.n AS updated, m.* FROM (SELECT count(*) AS n FROM u) AS c LEFT JOIN m ON true"""


def _save_args(before: Payment, after: Payment, refund_gateway_status: str) -> list[Any]:
    entries = after.entries[len(before.entries):]
    rows = after.transactions[len(before.transactions):]
    first = len(before.transactions)
    return [
        uuid.UUID(after.payment_id), before.version, after.status, after.failure_reason, after.transaction_id,
        after.sale_amount, after.unapplied_amount, after.refund_amount, after.gateway_reversal,
        [e.invoice_id for e in entries], [e.amount for e in entries], [e.reason for e in entries],
        list(range(first, first + len(rows))), [r.type for r in rows], [r.amount for r in rows],
        [r.at for r in rows], [r.transaction_id for r in rows],
        ["recorded" if r.type == "sale" else refund_gateway_status for r in rows],
    ]


async def save_and_move(conn: asyncpg.Connection, before: Payment, after: Payment, deltas: dict[str, Decimal],
                        today: date, *, refund_gateway_status: str = "recorded") -> tuple[Payment, Moved]:
    """`save`, and the invoices' applied money moved by `deltas` (invoice_store.MOVE_APPLIED), in one statement."""
    if not deltas:
        return await save(conn, before, after, refund_gateway_status=refund_gateway_status), Moved(set(), [])
    if len(deltas) > 1:  # an UPDATE's join locks in no set order: take the locks in invoice_id order first
        await invoice_store.lock_in_order(conn, list(deltas))
    rows = await conn.fetch(_SAVE_AND_MOVE, *_save_args(before, after, refund_gateway_status),
                            list(deltas), list(deltas.values()), today)
    if rows[0]["updated"] != 1:
        raise ConcurrentUpdate(after.payment_id)
    await _mark_returned(conn, before, after)
    return replace(after, version=before.version + 1), invoice_store.moved_of(
        [r for r in rows if r["invoice_id"] is not None])


async def save(conn: asyncpg.Connection, before: Payment, after: Payment, *,
               refund_gateway_status: str = "recorded") -> Payment:
    """Write `after` over `before`: the row under its version, then only the new entries and rows.
    Returns `after` with its new version."""
    # One statement: the row under its version and the new entries and rows (inserted only if the row was).
    updated = await conn.fetchval(f"WITH {_SAVE} SELECT count(*) FROM u",
                                  *_save_args(before, after, refund_gateway_status))
    if updated != 1:
        raise ConcurrentUpdate(after.payment_id)
    await _mark_returned(conn, before, after)
    return replace(after, version=before.version + 1)


async def _mark_returned(conn: asyncpg.Connection, before: Payment, after: Payment) -> None:
    for seq, (was, now) in enumerate(zip(before.transactions, after.transactions, strict=False)):
        if now.failure_reason is not None and was.failure_reason is None:  # a refund that failed at settlement
            await conn.execute(
                """UPDATE payment_transactions SET gateway_status = 'returned', gateway_error = $3
                   WHERE payment_id = $1 AND seq = $2""", uuid.UUID(after.payment_id), seq, now.failure_reason)


async def with_live_applications_on(conn: asyncpg.Connection, invoice_id: str) -> list[str]:
    rows = await conn.fetch(
        """SELECT payment_id FROM application_entries WHERE invoice_id = $1
           GROUP BY payment_id HAVING sum(amount) <> 0 ORDER BY min(id)""",
        invoice_id,
    )
    return [str(r["payment_id"]) for r in rows]


async def search(
    conn: asyncpg.Pool, *, organization_id: str | None, invoice_id: str | None, status: str | None,
    from_date: date | None, to_date: date | None, after: tuple[datetime, str] | None, limit: int,
) -> list[Payment]:
    """Newest first; `after` is the (created_at, payment_id) of the last payment of the previous page."""
    clauses, args = [], []

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if organization_id:
        clauses.append(f"p.organization_id = {arg(organization_id)}")
    if invoice_id:
        # a pending payment of several invoices has no entries yet: its allocations name them
        clauses.append(f"(p.invoice_id = {arg(invoice_id)} OR EXISTS (SELECT 1 FROM application_entries e "
                       f"WHERE e.payment_id = p.payment_id AND e.invoice_id = {arg(invoice_id)}) "
                       f"OR p.allocations @> jsonb_build_array(jsonb_build_object('invoice_id', "
                       f"{arg(invoice_id)}::text)))")
    if status:
        clauses.append(f"p.status = {arg(status)}")
    if from_date:
        clauses.append(f"p.created_at >= {arg(from_date)}::date")
    if to_date:
        clauses.append(f"p.created_at < {arg(to_date)}::date + 1")
    if after:
        clauses.append(f"(p.created_at, p.payment_id) < ({arg(after[0])}, {arg(uuid.UUID(after[1]))})")
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    rows = await conn.fetch(f"{_SELECT}{where} ORDER BY p.created_at DESC, p.payment_id DESC LIMIT {arg(limit)}", *args)
    return [_payment(r) for r in rows]


async def stale_pending(conn: asyncpg.Pool, older_than_seconds: float, limit: int = 100) -> list[str]:
    rows = await conn.fetch(
        """SELECT payment_id FROM payments WHERE status = 'pending'
           AND updated_at < now() - make_interval(secs => $1) ORDER BY updated_at LIMIT $2""",
        older_than_seconds, limit,
    )
    return [str(r["payment_id"]) for r in rows]


# -- cancels: the intent, its lease, and what the reconciler finishes --------------------------------------------

async def claim_reversal(conn: asyncpg.Connection | asyncpg.Pool, payment_id: str,
                         lease_seconds: float) -> bool | None:
    """Take the lease on a pending cancel (free, or held longer than `lease_seconds`). Returns whether a void
    or refund may already have been sent, or None when the lease is held by another or nothing is pending."""
    return await conn.fetchval(
        """UPDATE payments SET reversal_claimed_at = now()
           WHERE payment_id = $1 AND gateway_reversal = 'pending'
             AND (reversal_claimed_at IS NULL OR reversal_claimed_at <= now() - make_interval(secs => $2))
           RETURNING reversal_sent""", uuid.UUID(payment_id), lease_seconds)


async def mark_reversal_sent(conn: asyncpg.Connection | asyncpg.Pool, payment_id: str) -> None:
    """Committed before the void or refund leaves: from now on only the gateway can say it did not happen."""
    await conn.execute("UPDATE payments SET reversal_sent = true, reversal_claimed_at = now() WHERE payment_id = $1",
                       uuid.UUID(payment_id))


async def release_reversal(conn: asyncpg.Connection | asyncpg.Pool, payment_id: str) -> None:
    """The outcome is unknown: the reconciler may take it at once."""
    await conn.execute("UPDATE payments SET reversal_claimed_at = NULL WHERE payment_id = $1 "
                       "AND gateway_reversal = 'pending'", uuid.UUID(payment_id))


async def record_reversal_transaction(conn: asyncpg.Connection, payment_id: str, transaction_id: str | None) -> None:
    await conn.execute("UPDATE payments SET reversal_transaction_id = coalesce($2, reversal_transaction_id) "
                       "WHERE payment_id = $1", uuid.UUID(payment_id), transaction_id)


async def stale_reversals(conn: asyncpg.Pool, older_than_seconds: float, limit: int = 100) -> list[str]:
    rows = await conn.fetch(
        """SELECT payment_id FROM payments WHERE gateway_reversal = 'pending'
           AND (reversal_claimed_at IS NULL OR reversal_claimed_at <= now() - make_interval(secs => $1))
           ORDER BY reversal_claimed_at NULLS FIRST LIMIT $2""", older_than_seconds, limit)
    return [str(r["payment_id"]) for r in rows]


# -- refunds sent to the gateway (`refund_via_gateway`): which are due, the lease on one attempt, the outcome -----

# A row is due when it was never attempted (the request that recorded it sends it at once), or, for
# the reconciler's retries, when its last attempt (or its creation) is older than the lease.
_REFUND_DUE = """r.gateway_status = 'pending' AND (
            ($1::float8 IS NULL AND r.gateway_attempted_at IS NULL)
            OR ($1 IS NOT NULL AND coalesce(r.gateway_attempted_at, r.at) <= now() - make_interval(secs => $1)))"""


@dataclass(frozen=True)
class DueRefund:
    payment_id: str
    seq: int
    amount: Decimal
    attempted_at: datetime | None  # the last attempt, None when never sent
    sale_id: str  # the gateway transaction the refund is of


async def due_refunds(conn: asyncpg.Connection | asyncpg.Pool, payment_id: str | None,
                      retry_after: float | None) -> list[DueRefund]:
    """The refund rows due to be sent (of one payment, or all), oldest first; `retry_after`: see _REFUND_DUE."""
    rows = await conn.fetch(
        f"""SELECT r.payment_id, r.seq, r.amount, r.gateway_attempted_at, s.transaction_id AS sale_id
            FROM payment_transactions r
            JOIN payment_transactions s ON s.payment_id = r.payment_id AND s.type = 'sale'
            WHERE {_REFUND_DUE} AND ($2::uuid IS NULL OR r.payment_id = $2)
            ORDER BY r.at""",
        retry_after, uuid.UUID(payment_id) if payment_id else None,
    )
    return [DueRefund(str(r["payment_id"]), r["seq"], r["amount"], r["gateway_attempted_at"], r["sale_id"])
            for r in rows]


async def claim_refund(conn: asyncpg.Connection | asyncpg.Pool, refund: DueRefund, retry_after: float | None) -> bool:
    """An atomic lease on one attempt: of several senders, only the one whose update matches goes on."""
    return bool(await conn.fetchval(
        f"""UPDATE payment_transactions r SET gateway_attempted_at = now()
            WHERE {_REFUND_DUE} AND r.payment_id = $2 AND r.seq = $3
              AND r.gateway_attempted_at IS NOT DISTINCT FROM $4
            RETURNING true""",
        retry_after, uuid.UUID(refund.payment_id), refund.seq, refund.attempted_at,
    ))


async def record_refund_outcome(conn: asyncpg.Connection | asyncpg.Pool, refund: DueRefund, status: str,
                                error: str | None, transaction_id: str | None) -> None:
    await conn.execute(
        """UPDATE payment_transactions SET gateway_status = $3, gateway_error = $4, transaction_id = $5
           WHERE payment_id = $1 AND seq = $2""",
        uuid.UUID(refund.payment_id), refund.seq, status, error, transaction_id,
    )


async def adopt_gateway_refund(conn: asyncpg.Connection | asyncpg.Pool, refund: DueRefund,
                               transaction_id: str) -> None:
    """An earlier attempt did reach the gateway: the row is issued, as that gateway refund."""
    await conn.execute(
        """UPDATE payment_transactions SET gateway_status = 'issued', transaction_id = $3
           WHERE payment_id = $1 AND seq = $2""", uuid.UUID(refund.payment_id), refund.seq, transaction_id)


async def gateway_transaction_ids(conn: asyncpg.Connection | asyncpg.Pool, payment_id: str) -> set[str]:
    """The gateway transactions the payment's rows already stand for."""
    return {r["transaction_id"] for r in await conn.fetch(
        "SELECT transaction_id FROM payment_transactions WHERE payment_id = $1 AND transaction_id IS NOT NULL",
        uuid.UUID(payment_id))}
