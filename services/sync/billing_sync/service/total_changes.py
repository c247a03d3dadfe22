"""A run's step after accounting invoices are read back: a numbered PSA invoice whose total changed is
updated in accounting (a sparse update of its lines, built as at creation, with its SyncToken) while it
carries no payment there; when it does, the change is refused: the accounting invoice is kept, the
reason stored and `sync.record_failed` raised (staff get a ticket naming the invoice and both totals).
"""
from __future__ import annotations

import structlog

from billing_sync.adapters import psa_invoice_store
from billing_sync.adapters.accounting import Accounting
from billing_sync.adapters.quickbooks import QuickBooksFault
from billing_sync.domain import accounting_links
from billing_sync.domain import psa as rows
from billing_sync.domain.integrations import QUICKBOOKS
from billing_sync.domain.total_changes import ENTITY, refusal, total_change
from billing_sync.service.accounting_steps import invoice_lines, link_update, record_fault
from billing_sync.service.psa_steps import StepRun
from billing_sync.service.publishing import republish
from billing_sync.service.runs import skip_record

log = structlog.get_logger(__name__)

OBJECT_NOT_FOUND = "610"


async def follow_totals(step: StepRun, accounting: Accounting) -> None:
    for row in await psa_invoice_store.changed_totals(step.uow.pool, accounting.realm_id):
        try:
            await _follow(step, accounting, row)
        except Exception as exc:  # noqa: BLE001 - one invoice's refusal skips that invoice only
            integration = record_fault(exc)
            if integration is None:
                raise
            async with step.uow.begin() as tx:
                await skip_record(tx, step.run_id, integration, ENTITY, row["invoice_id"], f"QuickBooks: {exc}"[:1000])


async def _follow(step: StepRun, accounting: Accounting, row) -> None:  # type: ignore[no-untyped-def]
    invoice_id = row["invoice_id"]
    try:
        current = await accounting.get("Invoice", row["accounting_id"])
    except QuickBooksFault as fault:
        if fault.code != OBJECT_NOT_FOUND:
            raise
        return  # gone from these books: reading invoices back retires the link
    if not accounting_links.same_object(invoice_id, row["source_created_at"], current):
        return
    total, balance = rows.parse_amount(current.get("TotalAmt")), rows.parse_amount(current.get("Balance"))
    created_by_us = accounting_links.marker_owner(current) == invoice_id
    decision = total_change(row["total"], total, balance, created_by_us, row["ours"])
    if decision == "refuse":
        reason = refusal(row["external_id"], current.get("DocNumber"), total, row["total"], balance, created_by_us,
                         row["ours"])
        log.warning("invoice total changed in the PSA after payments in accounting; refused", invoice_id=invoice_id)
        async with step.uow.begin() as tx:
            await skip_record(tx, step.run_id, QUICKBOOKS, ENTITY, invoice_id, reason)
        return
    if decision == "update":
        items = await step.psa.billing_items([row["external_id"]])
        lines = invoice_lines(row["total"], items.get(row["external_id"], ()), row["external_id"])
        current = await accounting.replace_invoice_lines(current, lines)
        log.info("invoice total followed in accounting", invoice_id=invoice_id, total=str(row["total"]))
    async with step.uow.begin() as tx:
        changed = await psa_invoice_store.upsert_links(tx.conn, accounting.realm_id, [link_update(invoice_id, current)])
        await republish(tx, changed, step.policy)
