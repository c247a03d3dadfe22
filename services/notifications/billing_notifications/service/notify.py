"""Turns events into notifications: recorded once, then published as `notification.created`."""
from __future__ import annotations

import uuid

from billing_shared.events.catalog import BILLING_NOTIFICATIONS
from billing_shared.events.directory import ContactSynced, OrganizationSynced
from billing_shared.events.invoices import InvoiceSynced
from billing_shared.events.notifications import EmailMessage, NotificationCreated, NotificationCreatedData
from billing_shared.outbox import Tx

from billing_notifications.adapters import directory_store, notification_store
from billing_notifications.domain import messages

PRODUCER = "notifications"


async def on_invoice_synced(tx: Tx, event: InvoiceSynced) -> None:
    invoice = event.data
    if invoice.status != "open" or not invoice.invoice_number:
        return  # not payable yet: nothing to announce
    name, to = await directory_store.recipient(tx.conn, invoice.organization_id)
    subject, body = messages.invoice_available(invoice, name)
    notification = NotificationCreatedData(
        notification_id=str(uuid.uuid4()), type="invoice.available", source_event_id=str(event.event_id),
        organization_id=invoice.organization_id, channels=["email"] if to else [],
        email=EmailMessage(to=to, subject=subject, body_text=body) if to else None,
    )
    if await notification_store.record(tx.conn, notification, dedupe_key=invoice.invoice_id):
        tx.publish(BILLING_NOTIFICATIONS, NotificationCreated.new(
            producer=PRODUCER, organization_id=invoice.organization_id, data=notification,
            correlation_id=str(event.event_id),
        ))


async def on_organization_synced(tx: Tx, event: OrganizationSynced) -> None:
    await directory_store.upsert_organization(tx.conn, event.data)


async def on_contact_synced(tx: Tx, event: ContactSynced) -> None:
    await directory_store.upsert_contact(tx.conn, event.data)
