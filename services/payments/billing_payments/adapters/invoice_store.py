"""Payments' invoice projection in SQL."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import asyncpg

from billing_shared.events.invoices import InvoiceSnapshot

from billing_payments.domain.invoices import PayableInvoice

_FIELDS = ("invoice_id", "organization_id", "invoice_number", "source_status", "currency", "total", "applied",
           "issued_on", "due_on", "source_paid_on", "ledger_paid_on", "pdf_url", "source_version",
           "in_flight_payment_id")
# `total` is the ledger's bound (never below `applied`, a CHECK); the invoice shows sync's `source_total`.
_COLUMNS = ", ".join("source_total AS total" if f == "total" else f for f in _FIELDS)


def columns(alias: str) -> str:
    """The columns `to_invoice` reads, of the invoices table under `alias` (a read joined to others)."""
    return ", ".join(f"{alias}.source_total AS total" if f == "total" else f"{alias}.{f}" for f in _FIELDS)


def to_invoice(row: asyncpg.Record) -> PayableInvoice:
    fields = {f: row[f] for f in _FIELDS}
    if fields["in_flight_payment_id"] is not None:
        fields["in_flight_payment_id"] = str(fields["in_flight_payment_id"])
    return PayableInvoice(**fields)


async def get(conn: asyncpg.Connection | asyncpg.Pool, invoice_id: str, *, for_update: bool = False) -> PayableInvoice | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM invoices WHERE invoice_id = $1"
                              + (" FOR UPDATE" if for_update else ""), invoice_id)
    return to_invoice(row) if row else None


async def get_many(conn: asyncpg.Connection | asyncpg.Pool, invoice_ids: Sequence[str], *,
                   for_update: bool = False) -> dict[str, PayableInvoice]:
    """The invoices that exist among `invoice_ids`. With `for_update` the rows are locked in invoice_id order
    (the lock follows the sort), the one order every multi-invoice lock takes, so two never deadlock."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM invoices WHERE invoice_id = ANY($1::text[]) ORDER BY invoice_id"
                            + (" FOR UPDATE" if for_update else ""), list(invoice_ids))
    return {r["invoice_id"]: to_invoice(r) for r in rows}


async def set_in_flight_many(conn: asyncpg.Connection, invoice_ids: Sequence[str], payment_id: str | None) -> None:
    """Mark (or clear) several invoices in flight; the caller holds their locks, or clears only its own."""
    await conn.execute("UPDATE invoices SET in_flight_payment_id = $2::uuid WHERE invoice_id = ANY($1::text[])",
                       list(invoice_ids), payment_id)


@dataclass(frozen=True)
class Moved:
    voided: set[str]  # moved invoices that are voided
    over_applied: list[PayableInvoice]  # invoices money was moved onto that now hold more than their total


# The ledger's moves onto or off invoices; the paid date follows the balance (as PayableInvoice.moved). `total`
# follows `applied` up when money lands on an invoice whose total accounting lowered meanwhile (a sale in flight),
# so the CHECK 0 <= applied <= total always holds. An UPDATE's join locks in no set order: several invoices are
# locked first (`lock_in_order`). {source} yields (invoice_id, delta) rows as `d`; {today} is the paid date's parameter.
MOVE_APPLIED = """UPDATE invoices i SET applied = i.applied + d.delta, updated_at = now(),
       total = GREATEST(i.source_total, i.applied + d.delta),
       ledger_paid_on = CASE WHEN GREATEST(i.source_total, i.applied + d.delta) - (i.applied + d.delta) = 0
                             THEN coalesce(i.ledger_paid_on, {today}) ELSE NULL END
    FROM {source} AS d(invoice_id, delta) WHERE i.invoice_id = d.invoice_id
    RETURNING d.delta, """ + columns("i").replace("{", "{{").replace("}", "}}")


async def lock_in_order(conn: asyncpg.Connection, invoice_ids: list[str]) -> None:
    await conn.execute("SELECT 1 FROM invoices WHERE invoice_id = ANY($1::text[]) ORDER BY invoice_id FOR UPDATE",
                       invoice_ids)


def moved_of(rows: Sequence[asyncpg.Record]) -> Moved:
    """What MOVE_APPLIED's rows tell."""
    return Moved({r["invoice_id"] for r in rows if r["source_status"] == "voided"},
                 [to_invoice(r) for r in rows if r["delta"] > 0 and r["applied"] > r["total"]])


async def project_snapshots(conn: asyncpg.Connection, snapshots: Sequence[InvoiceSnapshot]) -> Projected:
    """Store snapshots whose source_version is newer than the stored one (one per invoice). Returns the ids
    of the invoices that were voided by this batch, and the invoices this batch left with more applied
    than their new total (newly so, or by another amount)."""
    newest: dict[str, InvoiceSnapshot] = {}
    for s in snapshots:
        if s.invoice_id not in newest or s.source_version > newest[s.invoice_id].source_version:
            newest[s.invoice_id] = s
    if not newest:
        return Projected([], [])
    before = {r["invoice_id"]: r["over"] for r in await conn.fetch(
        """SELECT invoice_id, CASE WHEN applied > source_total THEN source_total END AS over
           FROM invoices WHERE invoice_id = ANY($1::text[]) ORDER BY invoice_id FOR UPDATE""", list(newest))}
    rows = [(s.invoice_id, s.organization_id, s.invoice_number, s.status, s.currency, s.total, s.issued_on,
             s.due_on, s.paid_on, s.pdf_url, s.source_version) for s in newest.values()]
    columns = [list(c) for c in zip(*rows, strict=True)]
    # A total lowered below what the ledger applied keeps `total` (the ledger's bound) at `applied`: the
    # invoice shows balance 0 and is not payable, and staff are told (the caller publishes that).
    rows = await conn.fetch(
        f"""INSERT INTO invoices AS i (invoice_id, organization_id, invoice_number, source_status, currency,
                                      source_total, total, issued_on, due_on, source_paid_on, pdf_url, source_version)
           SELECT u.invoice_id, u.organization_id, u.invoice_number, u.source_status, u.currency, u.total, u.total,
                  u.issued_on, u.due_on, u.source_paid_on, u.pdf_url, u.source_version
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::numeric[],
                       $7::date[], $8::date[], $9::date[], $10::text[], $11::bigint[])
                AS u(invoice_id, organization_id, invoice_number, source_status, currency, total, issued_on, due_on,
                     source_paid_on, pdf_url, source_version)
           ON CONFLICT (invoice_id) DO UPDATE SET
               organization_id = EXCLUDED.organization_id, invoice_number = EXCLUDED.invoice_number,
               source_status = EXCLUDED.source_status, currency = EXCLUDED.currency,
               source_total = EXCLUDED.source_total, total = GREATEST(EXCLUDED.source_total, i.applied),
               ledger_paid_on = CASE WHEN i.applied > 0 AND EXCLUDED.source_total <= i.applied
                                     THEN coalesce(i.ledger_paid_on, current_date) ELSE NULL END,
               issued_on = EXCLUDED.issued_on, due_on = EXCLUDED.due_on, source_paid_on = EXCLUDED.source_paid_on,
               pdf_url = EXCLUDED.pdf_url, source_version = EXCLUDED.source_version, updated_at = now()
           WHERE i.source_version < EXCLUDED.source_version
           RETURNING {", ".join("i.source_total AS total" if f == "total" else "i." + f for f in _FIELDS)}""",
        *columns,
    )
    stored = [to_invoice(r) for r in rows]
    over = [i for i in stored if i.over_applied and before.get(i.invoice_id) != i.total]
    return Projected([i.invoice_id for i in stored if i.source_status == "voided"], over)


@dataclass(frozen=True)
class Projected:
    voided: list[str]
    over_applied: list[PayableInvoice]


# The derived status of PayableInvoice.status, for filtering in SQL (tests check that the two agree).
STATUS_SQL = """CASE WHEN source_status = 'voided' THEN 'voided'
                     WHEN source_status = 'paid' OR total - applied = 0 THEN 'paid' ELSE 'open' END"""  # total >= applied


async def newest_of(conn: asyncpg.Connection | asyncpg.Pool, *, organization_id: str, status: str | None,
                    before: tuple[date, str] | None, limit: int) -> list[PayableInvoice]:
    """One organization's invoices, newest first (issued date, then id)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM invoices
            WHERE organization_id = $1 AND ($2::text IS NULL OR {STATUS_SQL} = $2)
              AND ($3::date IS NULL OR (issued_on, invoice_id) < ($3, $4))
            ORDER BY issued_on DESC, invoice_id DESC LIMIT $5""",
        organization_id, status, before[0] if before else None, before[1] if before else "", limit,
    )
    return [to_invoice(r) for r in rows]


async def list_invoices(
    conn: asyncpg.Connection | asyncpg.Pool, *, organization_id: str | None, status: str | None,
    after: str, limit: int,
) -> list[PayableInvoice]:
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM invoices
            WHERE invoice_id > $1 AND ($2::text IS NULL OR organization_id = $2)
              AND ($3::text IS NULL OR {STATUS_SQL} = $3)
            ORDER BY invoice_id LIMIT $4""",
        after, organization_id, status, limit,
    )
    return [to_invoice(r) for r in rows]
