"""Invoice numbers from `billing.invoices.v1`: payment events name invoices by id only."""
from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from billing_shared.events.invoices import InvoiceSnapshot


async def upsert(conn: asyncpg.Connection, invoice: InvoiceSnapshot) -> None:
    await conn.execute(
        """INSERT INTO invoices (invoice_id, organization_id, invoice_number, source_version)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (invoice_id) DO UPDATE SET organization_id = EXCLUDED.organization_id,
               invoice_number = COALESCE(EXCLUDED.invoice_number, invoices.invoice_number),
               source_version = EXCLUDED.source_version, updated_at = now()
           WHERE invoices.source_version <= EXCLUDED.source_version""",
        invoice.invoice_id, invoice.organization_id, invoice.invoice_number, invoice.source_version,
    )


async def numbers(conn: asyncpg.Connection, invoice_ids: Sequence[str]) -> dict[str, str]:
    if not invoice_ids:
        return {}
    rows = await conn.fetch(
        "SELECT invoice_id, invoice_number FROM invoices WHERE invoice_id = ANY($1::text[]) "
        "AND invoice_number IS NOT NULL", list(invoice_ids))
    return {r["invoice_id"]: r["invoice_number"] for r in rows}
