"""Invoices from `billing.invoices.v1` (payment events name invoices by id only) and what payments
applied to them, for past-due reminders."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import asyncpg

from billing_shared.events.invoices import InvoiceSnapshot


async def upsert(conn: asyncpg.Connection, invoice: InvoiceSnapshot) -> None:
    await conn.execute(
        """INSERT INTO invoices (invoice_id, organization_id, invoice_number, source_version, status, currency, total,
                                 due_on)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (invoice_id) DO UPDATE SET organization_id = EXCLUDED.organization_id,
               invoice_number = COALESCE(EXCLUDED.invoice_number, invoices.invoice_number),
               source_version = EXCLUDED.source_version, status = EXCLUDED.status, currency = EXCLUDED.currency,
               total = EXCLUDED.total, due_on = EXCLUDED.due_on, updated_at = now()
           WHERE invoices.source_version <= EXCLUDED.source_version""",
        invoice.invoice_id, invoice.organization_id, invoice.invoice_number, invoice.source_version,
        invoice.status, invoice.currency, invoice.total, invoice.due_on,
    )


async def record_applications(conn: asyncpg.Connection, payment_id: str, applied: Sequence[tuple[str, Decimal]]) -> None:
    """What a payment applies now, per invoice (its latest snapshot; a cancelled payment applies nothing)."""
    # One statement (every payment event costs this): the applications named now are written, the
    # rest of this payment's are removed.
    await conn.execute(
        """WITH named AS (
               INSERT INTO invoice_applications (payment_id, invoice_id, amount)
               SELECT $1, invoice_id, amount FROM unnest($2::text[], $3::numeric[]) AS a (invoice_id, amount)
               ON CONFLICT (payment_id, invoice_id) DO UPDATE SET amount = EXCLUDED.amount)
           DELETE FROM invoice_applications WHERE payment_id = $1 AND invoice_id <> ALL($2::text[])""",
        payment_id, [i for i, _ in applied], [a for _, a in applied])


@dataclass(frozen=True)
class OpenInvoice:
    invoice_id: str
    organization_id: str
    invoice_number: str
    currency: str
    balance: Decimal
    due_on: date


async def unpaid_due_between(conn: asyncpg.Connection, first: date, last: date) -> list[OpenInvoice]:
    """Open, numbered invoices due in [first, last] with a balance left after the payments applied to them."""
    rows = await conn.fetch(
        """SELECT i.invoice_id, i.organization_id, i.invoice_number, i.currency, i.due_on,
                  i.total - COALESCE((SELECT sum(a.amount) FROM invoice_applications a
                                      WHERE a.invoice_id = i.invoice_id), 0) AS balance
           FROM invoices i
           WHERE i.status = 'open' AND i.invoice_number IS NOT NULL AND i.due_on BETWEEN $1 AND $2
           ORDER BY i.due_on, i.invoice_id""", first, last)
    return [OpenInvoice(r["invoice_id"], r["organization_id"], r["invoice_number"], r["currency"], r["balance"],
                        r["due_on"]) for r in rows if r["balance"] > 0]
