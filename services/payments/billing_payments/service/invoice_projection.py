"""Payments' view of the world from sync's topics: invoice snapshots (a void moves the money applied to
the invoice back to unapplied; a total lowered below the applied money leaves the invoice unpayable at
balance 0 and tells staff with `invoice.over_applied`) and the directory's contacts."""
from __future__ import annotations

from collections.abc import Sequence

from billing_shared.events.directory import ContactSynced
from billing_shared.events.invoices import InvoiceSynced, InvoiceVoided
from billing_shared.outbox import Tx

from billing_payments.adapters import directory_store, invoice_store, payment_store
from billing_payments.domain import ledger
from billing_payments.service.ledger_writes import commit_outcome, publish_over_applied


async def on_invoice_snapshots(tx: Tx, events: Sequence[InvoiceSynced | InvoiceVoided]) -> None:
    projected = await invoice_store.project_snapshots(tx.conn, [e.data for e in events])
    causes = {e.data.invoice_id: str(e.event_id) for e in events}
    for invoice in projected.over_applied:
        publish_over_applied(tx, invoice, causes.get(invoice.invoice_id))
    for invoice_id in projected.voided:
        for payment_id in await payment_store.with_live_applications_on(tx.conn, invoice_id):
            payment = await payment_store.load(tx.conn, payment_id, for_update=True)
            outcome = ledger.unapply_voided_invoice(payment, invoice_id) if payment else None
            if outcome is not None:
                await commit_outcome(tx, payment, outcome, correlation_id=causes.get(invoice_id))  # type: ignore[arg-type]


async def on_contacts(tx: Tx, events: Sequence[ContactSynced]) -> None:
    await directory_store.upsert_contacts(tx.conn, [e.data for e in events])
