"""Invoices and organizations in sync's schema; set-based SQL so a whole batch costs a few round trips."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import asyncpg
import orjson

from billing_sync.domain.invoices import InvoiceRecord, VoidRequest

_COLUMNS = ("invoice_id, organization_id, source, external_id, version, invoice_number, status, currency, "
            "total, issued_on, due_on, paid_on, pdf_url, lines")


COLUMNS = _COLUMNS


def record_from_row(row: asyncpg.Record) -> InvoiceRecord:
    return InvoiceRecord(**{k: row[k] for k in _COLUMNS.split(", ") if k != "lines"}, lines=tuple(row["lines"]))


def _record_columns(records: Sequence[InvoiceRecord]) -> list[list]:
    """The records as one array per column, in _COLUMNS' order (lines as JSON text)."""
    return [list(c) for c in zip(*[
        (r.invoice_id, r.organization_id, r.source, r.external_id, r.version, r.invoice_number, r.status,
         r.currency, r.total, r.issued_on, r.due_on, r.paid_on, r.pdf_url,
         orjson.dumps(list(r.lines)).decode() if r.lines else "[]")
        for r in records
    ], strict=True)]


async def upsert_invoices(conn: asyncpg.Connection, records: Sequence[InvoiceRecord]) -> list[InvoiceRecord]:
    """Store each record whose version is newer than the stored one; returns those that were stored.
    At most one record per invoice (see `newest_per_invoice`)."""
    if not records:
        return []
    rows = await conn.fetch(
        f"""INSERT INTO invoices AS i ({_COLUMNS})
            SELECT u.invoice_id, u.organization_id, u.source, u.external_id, u.version, u.invoice_number,
                   u.status, u.currency, u.total, u.issued_on, u.due_on, u.paid_on, u.pdf_url, u.lines::jsonb
            -- lines travel as JSON text: a list inside an array parameter would become a sub-array
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[],
                        $7::text[], $8::text[], $9::numeric[], $10::date[], $11::date[], $12::date[],
                        $13::text[], $14::text[])
                 AS u(invoice_id, organization_id, source, external_id, version, invoice_number, status,
                      currency, total, issued_on, due_on, paid_on, pdf_url, lines)
            ORDER BY u.invoice_id  -- every writer locks invoices in id order: no deadlock between them
            ON CONFLICT (invoice_id) DO UPDATE SET
                organization_id = EXCLUDED.organization_id, version = EXCLUDED.version,
                invoice_number = EXCLUDED.invoice_number, status = EXCLUDED.status,
                currency = EXCLUDED.currency, total = EXCLUDED.total, issued_on = EXCLUDED.issued_on,
                due_on = EXCLUDED.due_on, paid_on = EXCLUDED.paid_on, pdf_url = EXCLUDED.pdf_url,
                lines = EXCLUDED.lines, updated_at = now()
            WHERE i.version < EXCLUDED.version
            RETURNING invoice_id""",
        *_record_columns(records),
    )
    stored = {r["invoice_id"] for r in rows}
    return [r for r in records if r.invoice_id in stored]


async def upsert_upstream(conn: asyncpg.Connection, records: Sequence[InvoiceRecord]) -> list[InvoiceRecord]:
    """Store each upstream record whose version is newer than the source's last one; returns what was stored,
    as stored. The source's version is kept apart (`upstream_version`): the published one grows past
    both it and what sync published itself (a number given by accounting). A record without a number
    keeps the one accounting gave the invoice (the source does not know it)."""
    if not records:
        return []
    rows = await conn.fetch(
        f"""INSERT INTO invoices AS i ({_COLUMNS}, upstream_version)
            SELECT u.invoice_id, u.organization_id, u.source, u.external_id, u.version,
                   coalesce(u.invoice_number, (SELECT a.doc_number FROM accounting_invoices a
                                               WHERE a.invoice_id = u.invoice_id)),
                   u.status, u.currency, u.total, u.issued_on, u.due_on, u.paid_on, u.pdf_url, u.lines::jsonb,
                   u.version
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[],
                        $7::text[], $8::text[], $9::numeric[], $10::date[], $11::date[], $12::date[],
                        $13::text[], $14::text[])
                 AS u(invoice_id, organization_id, source, external_id, version, invoice_number, status,
                      currency, total, issued_on, due_on, paid_on, pdf_url, lines)
            ORDER BY u.invoice_id
            ON CONFLICT (invoice_id) DO UPDATE SET
                organization_id = EXCLUDED.organization_id, version = greatest(i.version + 1, EXCLUDED.version),
                upstream_version = EXCLUDED.upstream_version,
                invoice_number = EXCLUDED.invoice_number, status = EXCLUDED.status,
                currency = EXCLUDED.currency, total = EXCLUDED.total, issued_on = EXCLUDED.issued_on,
                due_on = EXCLUDED.due_on, paid_on = EXCLUDED.paid_on, pdf_url = EXCLUDED.pdf_url,
                lines = EXCLUDED.lines, updated_at = now()
            WHERE coalesce(i.upstream_version, i.version) < EXCLUDED.upstream_version
            RETURNING i.invoice_id, i.version, i.invoice_number""",
        *_record_columns(records),
    )
    # Only the version and the number can differ from what was sent (the rest is stored as given): reading
    # back those two, not whole rows, is a good part of what a consumed event costs.
    decided = {r["invoice_id"]: (r["version"], r["invoice_number"]) for r in rows}
    stored = []
    for record in records:
        if (got := decided.get(record.invoice_id)) is not None:
            version, number = got
            same = version == record.version and number == record.invoice_number
            stored.append(record if same else replace(record, version=version, invoice_number=number))
    return stored


async def void_invoices(conn: asyncpg.Connection, voids: Sequence[VoidRequest]) -> list[InvoiceRecord]:
    """Mark known invoices voided where the void's version is newer than the source's last one; returns the
    voided records (published past what sync published itself, as in `upsert_upstream`)."""
    if not voids:
        return []
    rows = await conn.fetch(
        f"""UPDATE invoices AS i SET status = 'voided', version = greatest(i.version + 1, v.version),
                   upstream_version = v.version, updated_at = now()
            FROM unnest($1::text[], $2::bigint[]) AS v(invoice_id, version)
            WHERE i.invoice_id = v.invoice_id AND coalesce(i.upstream_version, i.version) < v.version
            RETURNING {", ".join("i." + c for c in _COLUMNS.split(", "))}""",
        [v.invoice_id for v in voids], [v.version for v in voids],
    )
    return [record_from_row(r) for r in rows]


async def organization_of(conn: asyncpg.Connection | asyncpg.Pool, invoice_id: str) -> str | None:
    """The organization an invoice belongs to, or None when there is no such invoice."""
    return await conn.fetchval("SELECT organization_id FROM invoices WHERE invoice_id = $1", invoice_id)


async def status_of(conn: asyncpg.Connection | asyncpg.Pool, invoice_id: str) -> str | None:
    """The status sync last published for an invoice (open, paid by other means, voided), or None."""
    return await conn.fetchval("SELECT status FROM invoices WHERE invoice_id = $1", invoice_id)


async def upsert_organization_names(
    conn: asyncpg.Connection, organizations: Sequence[tuple[str, str, str, str]]
) -> list[asyncpg.Record]:
    """(organization_id, source, external_id, name) rows; returns the organizations that are new or renamed."""
    if not organizations:
        return []
    ids, sources, externals, names = (list(c) for c in zip(*organizations, strict=True))
    return await conn.fetch(
        """INSERT INTO organizations AS o (organization_id, source, external_id, name)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
           ON CONFLICT (organization_id) DO UPDATE SET name = EXCLUDED.name, updated_at = now()
           WHERE o.name IS DISTINCT FROM EXCLUDED.name
           RETURNING organization_id, name, active, default_contact_id""",
        ids, sources, externals, names,
    )
