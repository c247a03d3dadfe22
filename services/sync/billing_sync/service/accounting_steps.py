"""A run's accounting steps: read customers and invoices back from accounting (numbers, balances) and
give accounting numbers to the PSA invoices that have none.

Numbering one invoice: the intent (with the marker written into the accounting invoice) is stored
before the create, so a crash between "created in accounting" and "recorded here" is resolved by
finding the marker, never by a second create. The number then goes to the PSA invoice, and only
then is the snapshot (now payable) published.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billing_sync.adapters import directory_store, psa_invoice_store
from billing_sync.adapters.accounting import Accounting
from billing_sync.adapters.psa_invoice_store import LinkUpdate
from billing_sync.adapters.quickbooks import InvoiceLine
from billing_sync.domain import psa as rows
from billing_sync.domain.runs import ACCOUNTING_INVOICES, NUMBERING, advance
from billing_sync.service.customers import customer_for
from billing_sync.service.psa_steps import StepRun
from billing_sync.service.publishing import republish
from billing_sync.service.runs import save_progress

BATCH = 50


def link_update(invoice_id: str, invoice: dict[str, Any]) -> LinkUpdate:
    return LinkUpdate(invoice_id=invoice_id, accounting_id=str(invoice["Id"]), doc_number=invoice.get("DocNumber"),
                      customer_id=(invoice.get("CustomerRef") or {}).get("value"),
                      currency=(invoice.get("CurrencyRef") or {}).get("value"),
                      total=rows.parse_amount(invoice.get("TotalAmt")),
                      balance=rows.parse_amount(invoice.get("Balance")))


def _updated_at(invoice: dict[str, Any]) -> datetime | None:
    stamp = (invoice.get("MetaData") or {}).get("LastUpdatedTime")
    return datetime.fromisoformat(stamp) if stamp else None


async def link_customers(step: StepRun, accounting: Accounting) -> None:
    """Organizations <-> accounting customers, by name (as Autotask's own QuickBooks link does)."""
    customers = {str(c.get("DisplayName", "")).casefold(): c for c in await accounting.customers()}
    async with step.uow.begin() as tx:
        links = []
        for org in await directory_store.all_organization_names(tx.conn):
            customer = customers.get(org["name"].casefold())
            if customer is not None:
                email = (customer.get("PrimaryEmailAddr") or {}).get("Address")
                links.append((org["organization_id"], str(customer["Id"]), email))
        await directory_store.link_customers(tx.conn, links)


async def read_invoices(step: StepRun, accounting: Accounting) -> None:
    """Link accounting invoices to ours (by id, or by number for invoices numbered elsewhere) and
    take their numbers and balances; full runs read all, incremental ones what changed (CDC)."""
    state = step.progress.get(ACCOUNTING_INVOICES) or {}
    if state.get("done"):
        return
    since = step.since.get(ACCOUNTING_INVOICES)
    changed = await accounting.changed_invoices(datetime.fromisoformat(since), datetime.now(UTC)) if since else None
    pages = _single(changed) if changed is not None else accounting.invoice_pages()
    async for page in pages:
        async with step.uow.begin() as tx:
            by_id = await psa_invoice_store.ids_by_accounting_id(tx.conn, [str(i["Id"]) for i in page])
            unlinked = [i for i in page if str(i["Id"]) not in by_id and i.get("DocNumber")]
            by_number = await psa_invoice_store.unlinked_by_number(tx.conn, [i["DocNumber"] for i in unlinked])
            links = [link_update(by_id[str(i["Id"])], i) for i in page if str(i["Id"]) in by_id]
            links += [link_update(by_number[i["DocNumber"]], i) for i in unlinked if i["DocNumber"] in by_number]
            await republish(tx, await psa_invoice_store.upsert_links(tx.conn, links), step.policy)
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


def marker(invoice_id: str) -> str:
    return f"billing-link invoice {invoice_id}"


async def number_invoices(step: StepRun, accounting: Accounting, currency: str) -> None:
    """Every open PSA invoice without an accounting number gets one, in accounting and in the PSA."""
    state = step.progress.get(NUMBERING) or {}
    if state.get("done"):
        return
    total = await psa_invoice_store.count_numbering_candidates(step.uow.pool)
    after = ""
    while batch := await psa_invoice_store.numbering_candidates(step.uow.pool, after, BATCH):
        after = batch[-1]["invoice_id"]
        to_create = [r for r in batch if r["accounting_id"] is None]
        items = await step.psa.billing_items([r["external_id"] for r in to_create]) if to_create else {}
        for row in batch:
            if row["accounting_id"] is None:
                await _create_in_accounting(step, accounting, row, items.get(row["external_id"], ()), currency)
            await _number_back(step, row["invoice_id"])
            async with step.uow.begin() as tx:
                step.progress = advance(step.progress, NUMBERING, fetched=1, last_id=None, changed_at=None,
                                        total=total)
                await save_progress(tx, step.run_id, NUMBERING, step.progress[NUMBERING])
    async with step.uow.begin() as tx:
        step.progress = advance(step.progress, NUMBERING, fetched=0, last_id=None, changed_at=None, done=True,
                                total=int((step.progress.get(NUMBERING) or {}).get("fetched", 0)))
        await save_progress(tx, step.run_id, NUMBERING, step.progress[NUMBERING])


async def _create_in_accounting(step: StepRun, accounting: Accounting, row: Any,
                                billing_items: Sequence[dict[str, Any]], currency: str) -> None:
    invoice_id = row["invoice_id"]
    intent = await psa_invoice_store.intent(step.uow.pool, invoice_id)
    found = None
    if intent is not None:  # tried before: it may exist already
        found = await accounting.find_by_marker("Invoice", intent["customer_id"], intent["marker"],
                                                intent["created_at"])
    if found is None:
        customer_id = intent["customer_id"] if intent else \
            await customer_for(step.uow, accounting, row["organization_id"], currency)
        intent = await psa_invoice_store.record_intent(step.uow.pool, invoice_id, customer_id, marker(invoice_id))
        lines = invoice_lines(row["total"], billing_items, row["external_id"])
        found = await accounting.create_invoice(customer_id, lines, row["issued_on"], row["due_on"] or row["issued_on"],
                                                currency, intent["marker"])
    async with step.uow.begin() as tx:  # linked, not yet published: the PSA gets the number first
        await psa_invoice_store.upsert_links(tx.conn, [link_update(invoice_id, found)])


async def _number_back(step: StepRun, invoice_id: str) -> None:
    """Write the accounting number into the PSA invoice, then record it and publish the snapshot."""
    link = await psa_invoice_store.numbers(step.uow.pool, invoice_id)
    if link is None or not link["doc_number"]:
        return
    if link["invoice_number"] != link["doc_number"]:
        await step.psa.write_invoice(link["external_id"], {"invoiceNumber": link["doc_number"]})
    async with step.uow.begin() as tx:
        await psa_invoice_store.set_number(tx.conn, invoice_id, link["doc_number"])
        await republish(tx, [invoice_id], step.policy)
