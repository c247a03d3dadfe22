"""The directory projection (`billing.directory.v1`) and the invoice numbers (`billing.invoices.v1`)."""
from __future__ import annotations

from billing_shared.events.directory import ContactSynced, OrganizationSynced
from billing_shared.events.invoices import InvoiceSynced, InvoiceVoided
from billing_shared.outbox import Tx

from billing_notifications.adapters import delivery_store, directory_store, invoice_store


async def on_organization_synced(tx: Tx, event: OrganizationSynced) -> None:
    await directory_store.upsert_organization(tx.conn, event.data)
    await delivery_store.wake_waiting(tx.conn, event.data.organization_id)


async def on_contact_synced(tx: Tx, event: ContactSynced) -> None:
    await directory_store.upsert_contact(tx.conn, event.data)
    await delivery_store.wake_waiting(tx.conn, event.data.organization_id)


async def on_invoice(tx: Tx, event: InvoiceSynced | InvoiceVoided) -> None:
    await invoice_store.upsert(tx.conn, event.data)
