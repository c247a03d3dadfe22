"""PSA invoices and their accounting links in SQL, and what composing a snapshot needs."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import asyncpg

from billing_shared.money import ZERO

from billing_sync.adapters.db import Db
from billing_sync.adapters.invoice_store import record_from_row
from billing_sync.domain.invoices import AccountingLink, InvoiceRecord
from billing_sync.domain.psa import PsaInvoice


def _columns(rows: Sequence[tuple]) -> list[list]:
    return [list(c) for c in zip(*rows, strict=True)]


async def upsert(conn: asyncpg.Connection, invoices: Sequence[PsaInvoice]) -> list[str]:
    """Store what the PSA shows; returns the ids of invoices that are new or changed."""
    if not invoices:
        return []
    rows = await conn.fetch(
        """INSERT INTO psa_invoices AS p (invoice_id, external_id, organization_id, invoice_number, total, issued_on,
                                          due_on, voided, voided_at, paid_on)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::numeric[], $6::date[],
                                $7::date[], $8::bool[], $9::timestamptz[], $10::date[])
           ORDER BY 1  -- rows are locked in invoice id order by every writer: no deadlock between them
           ON CONFLICT (invoice_id) DO UPDATE SET organization_id = EXCLUDED.organization_id,
               invoice_number = EXCLUDED.invoice_number, total = EXCLUDED.total, issued_on = EXCLUDED.issued_on,
               due_on = EXCLUDED.due_on, voided = EXCLUDED.voided, voided_at = EXCLUDED.voided_at,
               paid_on = EXCLUDED.paid_on, updated_at = now()
           WHERE (p.organization_id, p.invoice_number, p.total, p.issued_on, p.due_on, p.voided, p.paid_on)
                 IS DISTINCT FROM (EXCLUDED.organization_id, EXCLUDED.invoice_number, EXCLUDED.total,
                                   EXCLUDED.issued_on, EXCLUDED.due_on, EXCLUDED.voided, EXCLUDED.paid_on)
           RETURNING invoice_id""",
        *_columns([(i.invoice_id, i.external_id, i.organization_id, i.invoice_number, i.total, i.issued_on,
                    i.due_on, i.voided, i.voided_at, i.paid_on) for i in invoices]),
    )
    return [r["invoice_id"] for r in rows]


async def open_external_ids(conn: asyncpg.Connection, after: int, limit: int) -> list[int]:
    """PSA ids of the invoices we hold open (not voided, no paid date), in id order after `after`."""
    rows = await conn.fetch(
        """SELECT external_id FROM psa_invoices WHERE NOT voided AND paid_on IS NULL AND external_id > $1
           ORDER BY external_id LIMIT $2""", after, limit)
    return [r["external_id"] for r in rows]


# A link is current when it is in the books sync is connected to now and its object still exists
# there; other links keep the number they gave but are never matched by accounting id.
_CURRENT = "a.realm_id = $%d AND a.retired_at IS NULL"


async def numbers(conn: Db, invoice_id: str, realm_id: str) -> asyncpg.Record | None:
    """The PSA's number and accounting's, for an invoice linked in the current books."""
    return await conn.fetchrow(
        f"""SELECT p.external_id, p.invoice_number, a.doc_number FROM psa_invoices p
            JOIN accounting_invoices a ON a.invoice_id = p.invoice_id AND {_CURRENT % 2}
            WHERE p.invoice_id = $1""", invoice_id, realm_id)


async def image_keys(conn: Db, invoice_id: str, realm_id: str | None) -> asyncpg.Record | None:
    """Where an invoice's image may be found: its source and external id, its accounting id in the
    current books (an id from other books would fetch another invoice's image)."""
    return await conn.fetchrow(
        f"""SELECT i.source, i.external_id, a.accounting_id FROM invoices i
            LEFT JOIN accounting_invoices a ON a.invoice_id = i.invoice_id AND {_CURRENT % 2}
            WHERE i.invoice_id = $1""", invoice_id, realm_id)


async def set_number(conn: asyncpg.Connection, invoice_id: str, number: str) -> None:
    await conn.execute("UPDATE psa_invoices SET invoice_number = $2, updated_at = now() WHERE invoice_id = $1",
                       invoice_id, number)


@dataclass(frozen=True)
class LinkUpdate:
    invoice_id: str
    accounting_id: str
    doc_number: str | None
    customer_id: str | None
    currency: str | None
    total: Decimal
    balance: Decimal
    created: datetime | None = None  # the object's MetaData.CreateTime


async def upsert_links(conn: asyncpg.Connection, realm_id: str, links: Sequence[LinkUpdate]) -> list[str]:
    """Store links as read from accounting in `realm_id` (the caller checked that each object is the
    invoice's own: `accounting_links.same_object`); returns the invoices whose link is new or changed.
    Another invoice still linked to one of these ids held an object that is gone (the id was handed
    out again): its link is retired. `paid_elsewhere_on` is the day the balance was first seen at 0
    (cleared when it leaves 0)."""
    if not links:
        return []
    await conn.execute(
        """UPDATE accounting_invoices a SET retired_at = now(), updated_at = now()
           FROM unnest($2::text[], $3::text[]) AS u(invoice_id, accounting_id)
           WHERE a.realm_id = $1 AND a.retired_at IS NULL AND a.accounting_id = u.accounting_id
             AND a.invoice_id <> u.invoice_id""",
        realm_id, [l.invoice_id for l in links], [l.accounting_id for l in links])
    rows = await conn.fetch(
        """INSERT INTO accounting_invoices AS a (invoice_id, realm_id, accounting_id, doc_number, customer_id,
                                                 currency, total, balance, source_created_at, paid_elsewhere_on)
           SELECT u.invoice_id, $1, u.accounting_id, u.doc_number, u.customer_id, u.currency, u.total, u.balance,
                  u.created, CASE WHEN u.balance = 0 THEN current_date END
           FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::numeric[], $8::numeric[],
                       $9::timestamptz[])
                AS u(invoice_id, accounting_id, doc_number, customer_id, currency, total, balance, created)
           ORDER BY u.invoice_id
           ON CONFLICT (invoice_id) DO UPDATE SET realm_id = EXCLUDED.realm_id, accounting_id = EXCLUDED.accounting_id,
               doc_number = EXCLUDED.doc_number, customer_id = EXCLUDED.customer_id, currency = EXCLUDED.currency,
               total = EXCLUDED.total, balance = EXCLUDED.balance,
               source_created_at = coalesce(EXCLUDED.source_created_at, a.source_created_at), retired_at = NULL,
               paid_elsewhere_on = CASE WHEN EXCLUDED.balance = 0 THEN coalesce(a.paid_elsewhere_on, current_date) END,
               updated_at = now()
           WHERE (a.realm_id, a.accounting_id, a.doc_number, a.customer_id, a.currency, a.total, a.balance,
                  a.retired_at IS NULL, coalesce(EXCLUDED.source_created_at, a.source_created_at))
                 IS DISTINCT FROM (EXCLUDED.realm_id, EXCLUDED.accounting_id, EXCLUDED.doc_number, EXCLUDED.customer_id,
                                   EXCLUDED.currency, EXCLUDED.total, EXCLUDED.balance, true, a.source_created_at)
           RETURNING invoice_id""",
        realm_id,
        *_columns([(l.invoice_id, l.accounting_id, l.doc_number, l.customer_id, l.currency, l.total, l.balance,
                    l.created) for l in links]),
    )
    return [r["invoice_id"] for r in rows]


async def retire_links(conn: asyncpg.Connection, invoice_ids: Sequence[str]) -> None:
    """These invoices' accounting objects are gone (their ids now name other objects): the links stay,
    with the number they gave, but are no longer current."""
    if invoice_ids:
        await conn.execute(
            """UPDATE accounting_invoices SET retired_at = now(), updated_at = now()
               WHERE invoice_id = ANY($1::text[]) AND retired_at IS NULL""", list(invoice_ids))


@dataclass(frozen=True)
class CurrentLink:
    invoice_id: str
    accounting_id: str
    created: datetime | None


async def links_by_accounting_id(conn: Db, realm_id: str, accounting_ids: Sequence[str]) -> dict[str, CurrentLink]:
    """Accounting id -> the current link holding it in `realm_id`."""
    rows = await conn.fetch(
        f"""SELECT a.accounting_id, a.invoice_id, a.source_created_at FROM accounting_invoices a
            WHERE {_CURRENT % 1} AND a.accounting_id = ANY($2::text[])""", realm_id, list(accounting_ids))
    return {r["accounting_id"]: CurrentLink(r["invoice_id"], r["accounting_id"], r["source_created_at"])
            for r in rows}


async def current_links(conn: Db, realm_id: str, invoice_ids: Sequence[str]) -> dict[str, CurrentLink]:
    """Invoice id -> its current link in `realm_id`, for those of `invoice_ids` that have one."""
    rows = await conn.fetch(
        f"""SELECT a.accounting_id, a.invoice_id, a.source_created_at FROM accounting_invoices a
            WHERE {_CURRENT % 1} AND a.invoice_id = ANY($2::text[])""", realm_id, list(invoice_ids))
    return {r["invoice_id"]: CurrentLink(r["invoice_id"], r["accounting_id"], r["source_created_at"]) for r in rows}


async def unlinked_by_number(conn: Db, realm_id: str, numbers: Sequence[str]) -> dict[str, str]:
    """PSA number -> invoice id, for PSA invoices carrying one of `numbers` and not linked in the
    current books (never linked, linked in other books, or whose object there is gone)."""
    rows = await conn.fetch(
        f"""SELECT p.invoice_number, p.invoice_id FROM psa_invoices p
            LEFT JOIN accounting_invoices a ON a.invoice_id = p.invoice_id AND {_CURRENT % 1}
            WHERE a.invoice_id IS NULL AND p.invoice_number = ANY($2::text[])""", realm_id, list(numbers))
    return {r["invoice_number"]: r["invoice_id"] for r in rows}


async def accounting_ids(conn: Db, realm_id: str, invoice_ids: Sequence[str]) -> dict[str, str]:
    """Invoice id -> accounting id in the current books (a payment applies to nothing else)."""
    return {i: link.accounting_id for i, link in (await current_links(conn, realm_id, invoice_ids)).items()}


async def number_holder(conn: Db, number: str, invoice_id: str) -> str | None:
    """Another invoice of ours that already carries `number` (in the PSA, from accounting, or from its
    upstream source), if any."""
    return await conn.fetchval(
        """SELECT invoice_id FROM psa_invoices WHERE invoice_number = $1 AND invoice_id <> $2
           UNION ALL
           SELECT invoice_id FROM accounting_invoices WHERE doc_number = $1 AND invoice_id <> $2
           UNION ALL
           SELECT invoice_id FROM invoices WHERE invoice_number = $1 AND invoice_id <> $2
           LIMIT 1""", number, invoice_id)


async def highest_number(conn: Db) -> int | None:
    """The highest numeric invoice number any invoice of ours carries."""
    return await conn.fetchval(
        r"""SELECT max(n::bigint) FROM (SELECT invoice_number AS n FROM psa_invoices
                                        UNION ALL SELECT doc_number FROM accounting_invoices
                                        UNION ALL SELECT invoice_number FROM invoices) x
            WHERE n ~ '^[0-9]{1,18}$'""")


@dataclass(frozen=True)
class ComposeInput:
    psa: PsaInvoice
    link: AccountingLink | None
    ours: Decimal
    stored: InvoiceRecord | None
    ours_paid_on: date | None = None  # the last paid date sync wrote on the PSA invoice


_PUBLISHED = ("invoice_id, organization_id, source, external_id, version, invoice_number, status, currency, "
              "total, issued_on, due_on, paid_on, pdf_url, lines")


async def compose_inputs(conn: asyncpg.Connection, invoice_ids: Sequence[str]) -> list[ComposeInput]:
    """Everything a snapshot is made of, PSA rows locked so concurrent publishers take turns."""
    if not invoice_ids:
        return []
    # The locks first, on their own: a statement that waits for a row lock reads the other tables (the
    # accounting link, our applications) from the snapshot it took before the wait, in READ COMMITTED.
    await conn.execute("SELECT 1 FROM psa_invoices WHERE invoice_id = ANY($1::text[]) ORDER BY invoice_id FOR UPDATE",
                       list(invoice_ids))
    rows = await conn.fetch(
        f"""SELECT p.invoice_id AS p_id, p.external_id AS p_external_id, p.organization_id AS p_org,
                   p.invoice_number AS p_number, p.total AS p_total, p.issued_on AS p_issued, p.due_on AS p_due,
                   p.voided AS p_voided, p.voided_at AS p_voided_at, p.paid_on AS p_paid,
                   a.accounting_id, a.doc_number, a.currency AS a_currency, a.total AS a_total,
                   a.balance AS a_balance, a.paid_elsewhere_on,
                   coalesce(w.ours, 0) AS ours, d.last_set_on AS ours_paid_on,
                   i.invoice_id IS NOT NULL AS stored,
                   {", ".join("i." + c for c in _PUBLISHED.split(", "))}
            FROM psa_invoices p
            LEFT JOIN accounting_invoices a ON a.invoice_id = p.invoice_id
            LEFT JOIN invoices i ON i.invoice_id = p.invoice_id
            LEFT JOIN psa_paid_dates d ON d.invoice_id = p.invoice_id
            LEFT JOIN (SELECT invoice_id, sum(greatest(desired_amount, written_amount)) AS ours
                       FROM writeback_applications WHERE invoice_id = ANY($1::text[]) GROUP BY invoice_id) w
                   ON w.invoice_id = p.invoice_id
            WHERE p.invoice_id = ANY($1::text[])
            ORDER BY p.invoice_id""",
        list(invoice_ids),
    )
    out = []
    for r in rows:
        psa = PsaInvoice(r["p_id"], r["p_external_id"], r["p_org"], r["p_number"], r["p_total"], r["p_issued"],
                         r["p_due"], r["p_voided"], r["p_voided_at"], r["p_paid"])
        link = (AccountingLink(r["accounting_id"], r["doc_number"], r["a_currency"], r["a_total"], r["a_balance"],
                               r["paid_elsewhere_on"]) if r["accounting_id"] else None)
        out.append(ComposeInput(psa, link, r["ours"] or ZERO, record_from_row(r) if r["stored"] else None,
                                r["ours_paid_on"]))
    return out


# Open PSA invoices that the current books have not numbered yet, or whose number the PSA does not
# show. An invoice that carries a number given by other (or reset) books keeps it: it is not pushed
# to the current books again (see services/sync/README.md, "When the books change").
_CANDIDATES = f"""FROM psa_invoices p LEFT JOIN accounting_invoices a ON a.invoice_id = p.invoice_id AND {_CURRENT % 1}
           WHERE NOT p.voided
             AND ((a.invoice_id IS NULL AND p.invoice_number IS NULL)
                  OR (a.doc_number IS NOT NULL AND p.invoice_number IS DISTINCT FROM a.doc_number))"""


async def numbering_candidates(conn: Db, realm_id: str, after: str, limit: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT p.invoice_id, p.external_id, p.organization_id, p.invoice_number, p.total, p.issued_on, p.due_on,
                   a.accounting_id, a.doc_number
            {_CANDIDATES} AND p.invoice_id > $2
            ORDER BY p.invoice_id LIMIT $3""", realm_id, after, limit)


async def count_numbering_candidates(conn: Db, realm_id: str) -> int:
    return await conn.fetchval(f"SELECT count(*) {_CANDIDATES}", realm_id)


async def intent(conn: Db, invoice_id: str, realm_id: str) -> asyncpg.Record | None:
    """The intent to number `invoice_id` in `realm_id` (one made in other books finds nothing here)."""
    return await conn.fetchrow(
        "SELECT customer_id, marker, created_at FROM numbering_intents WHERE invoice_id = $1 AND realm_id = $2",
        invoice_id, realm_id)


async def record_intent(conn: Db, invoice_id: str, realm_id: str, customer_id: str, marker: str) -> asyncpg.Record:
    """The intent before a create, with the customer it is made for; the first attempt's time in these
    books is kept (it bounds the marker search), an intent from other books starts anew."""
    return await conn.fetchrow(
        """INSERT INTO numbering_intents AS n (invoice_id, realm_id, customer_id, marker) VALUES ($1, $2, $3, $4)
           ON CONFLICT (invoice_id) DO UPDATE SET
               realm_id = EXCLUDED.realm_id, customer_id = EXCLUDED.customer_id,
               created_at = CASE WHEN n.realm_id = EXCLUDED.realm_id THEN n.created_at ELSE now() END
           RETURNING customer_id, marker, created_at""", invoice_id, realm_id, customer_id, marker)


async def changed_totals(conn: Db, realm_id: str) -> list[asyncpg.Record]:
    """PSA invoices (not voided) linked in the current books whose PSA total is not accounting's, as last
    read (an accounting total of 0 is a void there: nothing to follow), with what our own payments apply
    to each (written to accounting or about to be)."""
    return await conn.fetch(
        f"""SELECT p.invoice_id, p.external_id, p.total, a.accounting_id, a.doc_number, a.source_created_at,
                   coalesce((SELECT sum(greatest(w.desired_amount, w.written_amount)) FROM writeback_applications w
                             WHERE w.invoice_id = p.invoice_id), 0) AS ours
            FROM psa_invoices p JOIN accounting_invoices a ON a.invoice_id = p.invoice_id AND {_CURRENT % 1}
            WHERE NOT p.voided AND a.total > 0 AND a.total <> p.total
            ORDER BY p.invoice_id""", realm_id)


async def psa_totals(conn: Db, invoice_ids: Sequence[str]) -> list[asyncpg.Record]:
    """External id, total and the paid date sync wrote, for PSA invoices among `invoice_ids`."""
    return await conn.fetch(
        """SELECT p.invoice_id, p.external_id, p.total, d.paid_on AS written_paid_on
           FROM psa_invoices p LEFT JOIN psa_paid_dates d USING (invoice_id)
           WHERE p.invoice_id = ANY($1::text[])""", list(invoice_ids))


async def record_paid_date(conn: Db, invoice_id: str, paid_on: date | None) -> None:
    """The paid date sync just wrote on the PSA invoice (None: cleared); the last one set is kept."""
    await conn.execute(
        """INSERT INTO psa_paid_dates AS d (invoice_id, paid_on, last_set_on) VALUES ($1, $2, $2)
           ON CONFLICT (invoice_id) DO UPDATE SET paid_on = EXCLUDED.paid_on,
               last_set_on = coalesce(EXCLUDED.paid_on, d.last_set_on), updated_at = now()""",
        invoice_id, paid_on)
