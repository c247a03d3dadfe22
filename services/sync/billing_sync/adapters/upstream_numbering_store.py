"""Upstream invoices numbered through accounting, in SQL: who waits for a number, setting it (a new
published version), and refusals with their next try."""
from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from billing_sync.adapters.db import Db
from billing_sync.adapters.invoice_store import COLUMNS, record_from_row
from billing_sync.domain.invoices import InvoiceRecord

CHANNEL = "sync_upstream_numbering"


async def waiting(conn: Db, limit: int) -> list[InvoiceRecord]:
    """Open upstream invoices without a number, except those refused until later."""
    rows = await conn.fetch(
        f"""SELECT {COLUMNS} FROM invoices i
            WHERE i.upstream_version IS NOT NULL AND i.status = 'open' AND i.invoice_number IS NULL
              AND NOT EXISTS (SELECT 1 FROM upstream_numbering_failures f
                              WHERE f.invoice_id = i.invoice_id AND f.next_attempt_at > now())
            ORDER BY i.invoice_id LIMIT $1""", limit)
    return [record_from_row(r) for r in rows]


async def wake(conn: asyncpg.Connection) -> None:
    """Tell the numbering worker (on commit) that an invoice may wait for a number."""
    await conn.execute(f"SELECT pg_notify('{CHANNEL}', '')")


async def set_number(conn: asyncpg.Connection, invoice_id: str, number: str) -> InvoiceRecord | None:
    """The accounting number, as a new published version; None when the invoice no longer waits (voided,
    paid, or numbered by its source meanwhile)."""
    row = await conn.fetchrow(
        f"""UPDATE invoices SET invoice_number = $2, version = version + 1, updated_at = now()
            WHERE invoice_id = $1 AND status = 'open' AND invoice_number IS NULL
            RETURNING {COLUMNS}""", invoice_id, number)
    await conn.execute("DELETE FROM upstream_numbering_failures WHERE invoice_id = $1", invoice_id)
    return record_from_row(row) if row is not None else None


async def record_failure(conn: asyncpg.Connection, invoice_id: str, reason: str, first_delay: float,
                         max_delay: float) -> bool:
    """Keep the refusal and when to try again (doubling); True when the reason is new (raise it)."""
    previous = await conn.fetchval("SELECT reason FROM upstream_numbering_failures WHERE invoice_id = $1 FOR UPDATE",
                                   invoice_id)
    await conn.execute(
        """INSERT INTO upstream_numbering_failures AS f (invoice_id, reason, next_attempt_at)
           VALUES ($1, $2, now() + make_interval(secs => $3))
           ON CONFLICT (invoice_id) DO UPDATE SET reason = EXCLUDED.reason, attempts = f.attempts + 1,
               next_attempt_at = now() + make_interval(secs => least($4, $3 * 2 ^ f.attempts)), updated_at = now()""",
        invoice_id, reason, first_delay, max_delay)
    return previous != reason


async def linked_number(conn: Db, realm_id: str, invoice_ids: Sequence[str]) -> dict[str, str]:
    """Invoice id -> the DocNumber of its current accounting link (numbered before a crash, perhaps)."""
    rows = await conn.fetch(
        """SELECT invoice_id, doc_number FROM accounting_invoices
           WHERE realm_id = $1 AND retired_at IS NULL AND doc_number IS NOT NULL AND invoice_id = ANY($2::text[])""",
        realm_id, list(invoice_ids))
    return {r["invoice_id"]: r["doc_number"] for r in rows}
