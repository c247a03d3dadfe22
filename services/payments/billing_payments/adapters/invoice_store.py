"""Payments' invoice projection in SQL."""
from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from billing_shared.events.invoices import InvoiceSnapshot

from billing_payments.domain.invoices import PayableInvoice

_FIELDS = ("invoice_id", "organization_id", "invoice_number", "source_status", "currency", "total", "applied",
           "issued_on", "due_on", "source_paid_on", "ledger_paid_on", "pdf_url", "source_version")


def to_invoice(row: asyncpg.Record) -> PayableInvoice:
    return PayableInvoice(**{f: row[f] for f in _FIELDS})


async def project_snapshots(conn: asyncpg.Connection, snapshots: Sequence[InvoiceSnapshot]) -> int:
    """Store snapshots whose source_version is newer than the stored one (one per invoice)."""
    newest: dict[str, InvoiceSnapshot] = {}
    for s in snapshots:
        if s.invoice_id not in newest or s.source_version > newest[s.invoice_id].source_version:
            newest[s.invoice_id] = s
    if not newest:
        return 0
    rows = [(s.invoice_id, s.organization_id, s.invoice_number, s.status, s.currency, s.total, s.issued_on,
             s.due_on, s.paid_on, s.pdf_url, s.source_version) for s in newest.values()]
    columns = [list(c) for c in zip(*rows, strict=True)]
    status = await conn.execute(
        """INSERT INTO invoices AS i (invoice_id, organization_id, invoice_number, source_status, currency, total,
                                      issued_on, due_on, source_paid_on, pdf_url, source_version)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[],
                                $7::date[], $8::date[], $9::date[], $10::text[], $11::bigint[])
           ON CONFLICT (invoice_id) DO UPDATE SET
               organization_id = EXCLUDED.organization_id, invoice_number = EXCLUDED.invoice_number,
               source_status = EXCLUDED.source_status, currency = EXCLUDED.currency, total = EXCLUDED.total,
               issued_on = EXCLUDED.issued_on, due_on = EXCLUDED.due_on, source_paid_on = EXCLUDED.source_paid_on,
               pdf_url = EXCLUDED.pdf_url, source_version = EXCLUDED.source_version, updated_at = now()
           WHERE i.source_version < EXCLUDED.source_version""",
        *columns,
    )
    return int(status.split()[-1])


# The derived status of PayableInvoice.status, for filtering in SQL (tests check that the two agree).
STATUS_SQL = """CASE WHEN source_status = 'voided' THEN 'voided'
                     WHEN source_status = 'paid' OR total - applied = 0 THEN 'paid' ELSE 'open' END"""


async def list_invoices(
    conn: asyncpg.Connection | asyncpg.Pool, *, organization_id: str | None, status: str | None,
    after: str, limit: int,
) -> list[PayableInvoice]:
    rows = await conn.fetch(
        f"""SELECT {", ".join(_FIELDS)} FROM invoices
            WHERE invoice_id > $1 AND ($2::text IS NULL OR organization_id = $2)
              AND ($3::text IS NULL OR {STATUS_SQL} = $3)
            ORDER BY invoice_id LIMIT $4""",
        after, organization_id, status, limit,
    )
    return [to_invoice(r) for r in rows]
