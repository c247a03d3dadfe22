"""A run's accounting steps: read customers and invoices back from accounting (numbers, balances) and
give accounting numbers to the PSA invoices that have none.

Numbering one invoice: the intent (with the marker written into the accounting invoice) is stored
before the create, so a crash between "created in accounting" and "recorded here" is resolved by
finding the marker, never by a second create. The number then goes to the PSA invoice, and only
then is the snapshot (now payable) published.

Accounting ids are keyed by realm, and an id read again is checked to name the linked object still
(domain/accounting_links.py): reset or replaced books never move one invoice's number or balance
onto another. One invoice that cannot be numbered (QuickBooks or the PSA refuses it) is skipped
with its reason (`sync.record_failed`); the run goes on with the others.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import structlog

from billing_shared.outbox import UnitOfWork
from billing_shared.psa import PsaAuthError, PsaError, PsaUnavailable

from billing_sync.adapters import directory_store, psa_invoice_store
from billing_sync.adapters.accounting import Accounting
from billing_sync.adapters.psa_invoice_store import LinkUpdate
from billing_sync.adapters.quickbooks import InvoiceLine, QuickBooksFault
from billing_sync.domain import accounting_links
from billing_sync.domain import psa as rows
from billing_sync.domain.integrations import AUTOTASK, QUICKBOOKS
from billing_sync.domain.runs import ACCOUNTING_INVOICES, NUMBERING, advance
from billing_sync.service.customers import customer_for
from billing_sync.service.psa_steps import StepRun
from billing_sync.service.publishing import republish
from billing_sync.service.runs import save_progress, skip_record

log = structlog.get_logger(__name__)

BATCH = 50
# Invoices skipped one after the other before the run stops: a refusal that hits every invoice is
# not one invoice's fault, and one run failure says more than a ticket per invoice.
MAX_SKIPPED_IN_A_ROW = 5
DUPLICATE_NUMBER = "6210"  # QuickBooks: "Duplicate Document Number Error"
RENUMBER_TRIES = 5


class NumberTaken(Exception):
    """The number accounting gave is carried by another invoice of ours, and no free one was found."""


def link_update(invoice_id: str, invoice: dict[str, Any]) -> LinkUpdate:
    return LinkUpdate(invoice_id=invoice_id, accounting_id=str(invoice["Id"]), doc_number=invoice.get("DocNumber"),
                      customer_id=(invoice.get("CustomerRef") or {}).get("value"),
                      currency=(invoice.get("CurrencyRef") or {}).get("value"),
                      total=rows.parse_amount(invoice.get("TotalAmt")),
                      balance=rows.parse_amount(invoice.get("Balance")),
                      created=accounting_links.created_at(invoice))


def _updated_at(invoice: dict[str, Any]) -> datetime | None:
    stamp = (invoice.get("MetaData") or {}).get("LastUpdatedTime")
    return datetime.fromisoformat(stamp) if stamp else None


async def link_customers(step: StepRun, accounting: Accounting) -> None:
    """Organizations <-> accounting customers, by name (as Autotask's own QuickBooks link does). A
    link to a customer these books do not have (other or reset books) is dropped: its id may name
    another customer here; the customer is found or created again when an invoice needs it."""
    customers = {str(c.get("DisplayName", "")).casefold(): c for c in await accounting.customers()}
    async with step.uow.begin() as tx:
        links: list[tuple[str, str | None, str | None]] = []
        for org in await directory_store.all_organization_names(tx.conn):
            customer = customers.get(org["name"].casefold())
            if customer is not None:
                email = (customer.get("PrimaryEmailAddr") or {}).get("Address")
                links.append((org["organization_id"], str(customer["Id"]), email))
            else:
                links.append((org["organization_id"], None, None))
        await directory_store.link_customers(tx.conn, links)  # type: ignore[arg-type]


async def read_invoices(step: StepRun, accounting: Accounting) -> None:
    """Link accounting invoices to ours (by id, or by number for invoices numbered elsewhere) and
    take their numbers and balances; full runs read all, incremental ones what changed (CDC)."""
    state = step.progress.get(ACCOUNTING_INVOICES) or {}
    if state.get("done"):
        return
    since = step.since.get(ACCOUNTING_INVOICES)
    changed = await accounting.changed_invoices(datetime.fromisoformat(since), datetime.now(UTC)) if since else None
    pages = _single(changed) if changed is not None else accounting.invoice_pages()
    realm = accounting.realm_id
    async for page in pages:
        async with step.uow.begin() as tx:
            held = await psa_invoice_store.links_by_accounting_id(tx.conn, realm, [str(i["Id"]) for i in page])
            gone = [link.invoice_id for i in page if (link := held.get(str(i["Id"]))) is not None
                    and not accounting_links.same_object(link.invoice_id, link.created, i)]
            if gone:
                log.warning("accounting ids now name other objects; links retired", invoices=gone, realm=realm)
                await psa_invoice_store.retire_links(tx.conn, gone)
            by_id = {a: link.invoice_id for a, link in held.items() if link.invoice_id not in gone}
            unlinked = [i for i in page if str(i["Id"]) not in by_id and i.get("DocNumber")]
            by_number = await psa_invoice_store.unlinked_by_number(tx.conn, realm,
                                                                   [i["DocNumber"] for i in unlinked])
            links = [link_update(by_id[str(i["Id"])], i) for i in page if str(i["Id"]) in by_id]
            links += [link_update(by_number[i["DocNumber"]], i) for i in unlinked if i["DocNumber"] in by_number
                      and accounting_links.marker_owner(i) in (None, by_number[i["DocNumber"]])]
            await republish(tx, await psa_invoice_store.upsert_links(tx.conn, realm, links), step.policy)
            stamps = [s for s in map(_updated_at, page) if s]
            step.progress = advance(step.progress, ACCOUNTING_INVOICES, fetched=len(page), last_id=None,
                                    changed_at=max(stamps, default=None))
            await save_progress(tx, step.run_id, ACCOUNTING_INVOICES, step.progress[ACCOUNTING_INVOICES])
    async with step.uow.begin() as tx:
        fetched = int((step.progress.get(ACCOUNTING_INVOICES) or {}).get("fetched", 0))
        step.progress = advance(step.progress, ACCOUNTING_INVOICES, fetched=0, last_id=None, changed_at=None,
                                total=fetched, done=True)
        await save_progress(tx, step.run_id, ACCOUNTING_INVOICES, step.progress[ACCOUNTING_INVOICES])


async def _single(page: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    if page:
        yield page


def invoice_lines(total: Decimal, billing_items: Sequence[dict[str, Any]], external_id: int) -> list[InvoiceLine]:
    """The PSA's billing items when they add up to the invoice total; else one line with the total."""
    lines = []
    for item in billing_items:
        line = rows.invoice_line(item)
        amount, quantity, price = Decimal(line["amount"]), Decimal(line["quantity"]), Decimal(line["unit_price"])
        exact = (quantity * price).quantize(Decimal("0.01")) == amount
        lines.append(InvoiceLine(line["description"], amount, quantity if exact else None, price if exact else None))
    if not lines or sum((line.amount for line in lines), Decimal("0")) != total:
        return [InvoiceLine(f"Autotask invoice {external_id}", total)]
    return lines


marker = accounting_links.marker


def record_fault(exc: BaseException) -> str | None:
    """The integration that refused one record (this invoice), or None when the failure is not the
    record's: dead credentials, an unreachable or throttled system, a bug (the run fails then)."""
    if isinstance(exc, (QuickBooksFault, NumberTaken)):
        return QUICKBOOKS
    if isinstance(exc, PsaError) and not isinstance(exc, (PsaAuthError, PsaUnavailable)):
        return AUTOTASK
    if isinstance(exc, asyncpg.IntegrityError):
        return QUICKBOOKS  # what accounting handed back contradicts what is stored
    return None


def _reason(integration: str, exc: BaseException) -> str:
    name = "QuickBooks" if integration == QUICKBOOKS else "Autotask"
    return f"{name}: {exc}"[:1000]


async def number_invoices(step: StepRun, accounting: Accounting, currency: str) -> None:
    """Every open PSA invoice without an accounting number gets one, in accounting and in the PSA."""
    state = step.progress.get(NUMBERING) or {}
    if state.get("done"):
        return
    realm = accounting.realm_id
    total = await psa_invoice_store.count_numbering_candidates(step.uow.pool, realm)
    after = ""
    skipped_in_a_row = 0
    while batch := await psa_invoice_store.numbering_candidates(step.uow.pool, realm, after, BATCH):
        after = batch[-1]["invoice_id"]
        to_create = [r for r in batch if r["accounting_id"] is None]
        items = await step.psa.billing_items([r["external_id"] for r in to_create]) if to_create else {}
        for row in batch:
            try:
                if row["accounting_id"] is None:
                    lines = invoice_lines(row["total"], items.get(row["external_id"], ()), row["external_id"])
                    await create_in_accounting(step.uow, accounting, row["invoice_id"], row["organization_id"], lines,
                                               (row["issued_on"], row["due_on"] or row["issued_on"]), currency)
                await _number_back(step, realm, row["invoice_id"])
            except Exception as exc:  # noqa: BLE001 - one invoice's refusal skips that invoice only
                integration = record_fault(exc)
                skipped_in_a_row += 1
                if integration is None or skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW:
                    raise
                reason = _reason(integration, exc)
                log.warning("invoice not numbered; skipped", invoice_id=row["invoice_id"], reason=reason)
                async with step.uow.begin() as tx:
                    await skip_record(tx, step.run_id, integration, NUMBERING, row["invoice_id"], reason)
                continue
            skipped_in_a_row = 0
            async with step.uow.begin() as tx:
                step.progress = advance(step.progress, NUMBERING, fetched=1, last_id=None, changed_at=None,
                                        total=total)
                await save_progress(tx, step.run_id, NUMBERING, step.progress[NUMBERING])
    async with step.uow.begin() as tx:
        step.progress = advance(step.progress, NUMBERING, fetched=0, last_id=None, changed_at=None, done=True,
                                total=int((step.progress.get(NUMBERING) or {}).get("fetched", 0)))
        await save_progress(tx, step.run_id, NUMBERING, step.progress[NUMBERING])


async def create_in_accounting(uow: UnitOfWork, accounting: Accounting, invoice_id: str, organization_id: str,
                               lines: Sequence[InvoiceLine], dates: tuple[date, date], currency: str) -> str:
    """Create (or find, after a crash) the accounting invoice of `invoice_id` and link it; its DocNumber.
    Used for PSA invoices and for upstream ones alike."""
    realm = accounting.realm_id
    intent = await psa_invoice_store.intent(uow.pool, invoice_id, realm)
    found = None
    if intent is not None:  # tried before in these books: it may exist already
        found = await accounting.find_by_marker("Invoice", intent["customer_id"], intent["marker"],
                                                intent["created_at"])
    if found is None:
        # The customer as linked now (a customer id kept from other or reset books may name another)
        customer_id = await customer_for(uow, accounting, organization_id, currency)
        intent = await psa_invoice_store.record_intent(uow.pool, invoice_id, realm, customer_id, marker(invoice_id))
        found = await accounting.create_invoice(customer_id, lines, dates[0], dates[1], currency, intent["marker"])
    found = await _unique_number(uow, accounting, invoice_id, found)
    async with uow.begin() as tx:  # linked, not yet published: the number goes to its source first
        await psa_invoice_store.upsert_links(tx.conn, realm, [link_update(invoice_id, found)])
    return str(found.get("DocNumber") or "")


async def _unique_number(uow: UnitOfWork, accounting: Accounting, invoice_id: str,
                         invoice: dict[str, Any]) -> dict[str, Any]:
    """Books that were reset or replaced number from their start again: a number another invoice of
    ours already carries (sent to the client, written in the PSA) is never given twice. The new
    accounting invoice is renumbered after the highest number we have given; the books go on from
    there."""
    number = invoice.get("DocNumber")
    holder = await psa_invoice_store.number_holder(uow.pool, number, invoice_id) if number else None
    if holder is None:
        return invoice
    highest = await psa_invoice_store.highest_number(uow.pool)
    if highest is None:
        raise NumberTaken(f"QuickBooks gave number {number} to invoice {invoice_id}, but invoice {holder} "
                          "carries it already; give the QuickBooks invoice another number")
    for candidate in range(highest + 1, highest + 1 + RENUMBER_TRIES):
        try:
            renumbered = await accounting.renumber_invoice(invoice, str(candidate))
        except QuickBooksFault as fault:
            if fault.code != DUPLICATE_NUMBER:
                raise
            continue  # taken in QuickBooks by an invoice that is not ours: the next one
        log.warning("accounting gave a number already in use; renumbered", invoice_id=invoice_id, given=number,
                    carried_by=holder, number=candidate)
        return renumbered
    raise NumberTaken(f"QuickBooks gave number {number} to invoice {invoice_id}, but invoice {holder} carries "
                      f"it already, and numbers {highest + 1} to {highest + RENUMBER_TRIES} are taken in QuickBooks")


async def _number_back(step: StepRun, realm: str, invoice_id: str) -> None:
    """Write the accounting number into the PSA invoice, then record it and publish the snapshot."""
    link = await psa_invoice_store.numbers(step.uow.pool, invoice_id, realm)
    if link is None or not link["doc_number"]:
        return
    if link["invoice_number"] != link["doc_number"]:
        await step.psa.write_invoice(link["external_id"], {"invoiceNumber": link["doc_number"]})
    async with step.uow.begin() as tx:
        await psa_invoice_store.set_number(tx.conn, invoice_id, link["doc_number"])
        await republish(tx, [invoice_id], step.policy)
