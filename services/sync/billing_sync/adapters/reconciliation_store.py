"""Reconciliation in SQL: requested runs and re-sends, and the ledger as sync knows it from the payment
events (payment_writebacks, writeback_applications, the invoices it publishes, the PSA paid dates it wrote)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import asyncpg

from billing_shared.events.reconciliation import ReconciliationRequestedData, WritebackResendRequestedData

from billing_sync.adapters.db import Db
from billing_sync.domain.reconciliation import LedgerInvoice, LedgerPayment

CHANNEL = "sync_books_check"  # wakes the leader (NOTIFY is delivered on commit)


# -- requests ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    run_id: str
    trigger: str
    period_start: datetime
    period_end: datetime
    attempts: int


async def record_request(conn: asyncpg.Connection, data: ReconciliationRequestedData) -> bool:
    """Record a run to check; a run id already recorded (another event asking again) changes nothing."""
    inserted = await conn.fetchval(
        """INSERT INTO reconciliation_requests (run_id, trigger, period_start, period_end) VALUES ($1, $2, $3, $4)
           ON CONFLICT (run_id) DO NOTHING RETURNING true""",
        data.run_id, data.trigger, data.period_start, data.period_end)
    if inserted:
        await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
    return bool(inserted)


async def due_requests(conn: Db, limit: int) -> list[Request]:
    rows = await conn.fetch(
        """SELECT run_id, trigger, period_start, period_end, attempts FROM reconciliation_requests
           WHERE status = 'pending' AND next_attempt_at <= now() ORDER BY next_attempt_at, run_id LIMIT $1""", limit)
    return [Request(r["run_id"], r["trigger"], r["period_start"], r["period_end"], r["attempts"]) for r in rows]


async def finish_request(conn: asyncpg.Connection, run_id: str) -> bool:
    """Mark the run checked; False when it already was (its answer is not published twice)."""
    return bool(await conn.fetchval(
        """UPDATE reconciliation_requests SET status = 'done', checked_at = now(), last_error = NULL
           WHERE run_id = $1 AND status = 'pending' RETURNING true""", run_id))


async def retry_request(conn: Db, run_id: str, error: str, delay_seconds: float) -> None:
    await conn.execute(
        """UPDATE reconciliation_requests SET attempts = attempts + 1, last_error = $2,
               next_attempt_at = now() + make_interval(secs => $3) WHERE run_id = $1""",
        run_id, error[:2000], delay_seconds)


# -- re-sends ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Resend:
    event_id: UUID
    drift_id: str
    payment_id: str | None
    invoice_id: str | None
    attempts: int


async def record_resend(conn: asyncpg.Connection, event_id: UUID, data: WritebackResendRequestedData) -> None:
    """Queue the payment's write-back again (the worker reconciles it with accounting from scratch) and
    record the PSA part for the leader. Only desired_seq moves: the snapshot (the ledger's) stays."""
    await conn.execute(
        """INSERT INTO writeback_resends (event_id, drift_id, payment_id, invoice_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (event_id) DO NOTHING""", event_id, data.drift_id, data.payment_id, data.invoice_id)
    if data.payment_id is not None:
        requeued = await conn.fetchval(
            """UPDATE payment_writebacks SET desired_seq = desired_seq + 1, attempts = 0, next_attempt_at = now(),
                   last_error = NULL, updated_at = now() WHERE payment_id = $1 RETURNING true""", data.payment_id)
        if requeued:
            await conn.execute("SELECT pg_notify('sync_writeback', '')")
    await conn.execute("SELECT pg_notify($1, '')", CHANNEL)


async def due_resends(conn: Db, limit: int) -> list[Resend]:
    rows = await conn.fetch(
        """SELECT event_id, drift_id, payment_id, invoice_id, attempts FROM writeback_resends
           WHERE done_at IS NULL AND next_attempt_at <= now() ORDER BY next_attempt_at, event_id LIMIT $1""", limit)
    return [Resend(r["event_id"], r["drift_id"], r["payment_id"], r["invoice_id"], r["attempts"]) for r in rows]


async def finish_resend(conn: Db, event_id: UUID) -> None:
    await conn.execute("UPDATE writeback_resends SET done_at = now(), last_error = NULL WHERE event_id = $1", event_id)


async def retry_resend(conn: Db, event_id: UUID, error: str, delay_seconds: float) -> None:
    await conn.execute(
        """UPDATE writeback_resends SET attempts = attempts + 1, last_error = $2,
               next_attempt_at = now() + make_interval(secs => $3) WHERE event_id = $1""",
        event_id, error[:2000], delay_seconds)


async def payment_invoices(conn: Db, payment_id: str) -> list[str]:
    """The invoices the payment applies to, or was written to accounting against."""
    rows = await conn.fetch(
        """SELECT invoice_id FROM writeback_applications
           WHERE payment_id = $1 AND (desired_amount > 0 OR written_amount > 0) ORDER BY invoice_id""", payment_id)
    return [r["invoice_id"] for r in rows]


# -- the ledger as sync knows it -----------------------------------------------------------------------
async def payments_in_period(conn: Db, start: datetime, end: datetime) -> list[LedgerPayment]:
    """Payments whose sale (the ledger's time of the payment: its newest standing snapshot's, else the
    newest one's) falls in [start, end), with their live applications and what the write-back holds."""
    rows = await conn.fetch(
        """SELECT w.payment_id, w.organization_id, w.desired, w.desired_seq > w.done_seq AS pending,
                  w.accounting_payment_id,
                  coalesce((SELECT jsonb_object_agg(a.invoice_id, a.desired_amount::text) FROM writeback_applications a
                            WHERE a.payment_id = w.payment_id AND a.desired_amount > 0), '{}') AS applications,
                  array(SELECT a.invoice_id FROM writeback_applications a WHERE a.payment_id = w.payment_id
                        ORDER BY a.invoice_id) AS touched
           FROM payment_writebacks w
           WHERE EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(w.live, w.desired)->'transactions') t
                         WHERE t->>'type' = 'sale' AND (t->>'at')::timestamptz >= $1 AND (t->>'at')::timestamptz < $2)
           ORDER BY w.payment_id""", start, end)
    return [LedgerPayment(
        payment_id=r["payment_id"], organization_id=r["organization_id"], status=r["desired"]["status"],
        currency=r["desired"]["currency"], sale_amount=Decimal(str(r["desired"]["sale_amount"])),
        transaction_id=r["desired"].get("transaction_id"),
        applications={k: Decimal(str(v)) for k, v in r["applications"].items()},
        accounting_payment_id=r["accounting_payment_id"], done=not r["pending"], touched=tuple(r["touched"]))
        for r in rows]


async def lagging_invoices(conn: Db, invoice_ids: Sequence[str]) -> set[str]:
    """Those of `invoice_ids` that a write-back still pending or retrying touches (lag, not drift)."""
    rows = await conn.fetch(
        """SELECT DISTINCT a.invoice_id FROM writeback_applications a JOIN payment_writebacks w USING (payment_id)
           WHERE w.desired_seq > w.done_seq AND a.invoice_id = ANY($1::text[])""", list(invoice_ids))
    return {r["invoice_id"] for r in rows}


_LEDGER_INVOICE = """
    SELECT i.invoice_id, i.organization_id, i.currency, i.total, i.status,
           coalesce((SELECT sum(w.desired_amount) FROM writeback_applications w WHERE w.invoice_id = i.invoice_id), 0)
               AS ours,
           p.external_id AS psa_external_id, d.last_set_on %s
    FROM invoices i LEFT JOIN psa_invoices p ON p.invoice_id = i.invoice_id
         LEFT JOIN psa_paid_dates d ON d.invoice_id = i.invoice_id"""


def _ledger_invoice(r: asyncpg.Record) -> LedgerInvoice:
    return LedgerInvoice(r["invoice_id"], r["organization_id"], r["currency"], r["total"], r["status"], r["ours"],
                         r["last_set_on"], r["status"] == "paid")


async def psa_invoices(conn: Db, invoice_ids: Sequence[str]) -> list[tuple[LedgerInvoice, int]]:
    """The PSA invoices among `invoice_ids` as the ledger has them, with their PSA ids."""
    rows = await conn.fetch(_LEDGER_INVOICE % "" + """
        WHERE i.invoice_id = ANY($1::text[]) AND p.external_id IS NOT NULL ORDER BY i.invoice_id""", list(invoice_ids))
    return [(_ledger_invoice(r), r["psa_external_id"]) for r in rows]


async def open_linked_invoices(conn: Db, realm_id: str, after: str,
                               limit: int) -> list[tuple[LedgerInvoice, str, datetime | None]]:
    """Invoices published open with a current accounting link in `realm_id`, in id order after `after`:
    (invoice, accounting id, the linked object's create time)."""
    rows = await conn.fetch(_LEDGER_INVOICE % ", a.accounting_id, a.source_created_at" + """
        JOIN accounting_invoices a ON a.invoice_id = i.invoice_id AND a.realm_id = $1 AND a.retired_at IS NULL
        WHERE i.status = 'open' AND i.invoice_id > $2 ORDER BY i.invoice_id LIMIT $3""", realm_id, after, limit)
    return [(_ledger_invoice(r), r["accounting_id"], r["source_created_at"]) for r in rows]
