"""Handlers of `upstream.invoices.v1`: store newer versions, publish snapshots through the outbox."""
from __future__ import annotations

from collections.abc import Sequence

from billing_shared.events.catalog import BILLING_DIRECTORY
from billing_shared.events.directory import OrganizationData, OrganizationSynced
from billing_shared.events.upstream import InvoiceUpserted, UpstreamInvoiceVoided
from billing_shared.ids import make_id
from billing_shared.outbox import Tx

from billing_sync.adapters import integration_store, invoice_store, upstream_numbering_store
from billing_sync.domain.integrations import QUICKBOOKS
from billing_sync.domain.invoices import from_upstream, newest_per_invoice, void_from_upstream
from billing_sync.service.publishing import PRODUCER, publish_snapshots


async def on_invoices_upserted(tx: Tx, events: Sequence[InvoiceUpserted]) -> None:
    organizations = {
        make_id(e.data.source, e.data.organization.external_id):
            (make_id(e.data.source, e.data.organization.external_id), e.data.source,
             e.data.organization.external_id, e.data.organization.name)
        for e in events
    }
    for org in await invoice_store.upsert_organization_names(tx.conn, list(organizations.values())):
        tx.publish(BILLING_DIRECTORY, OrganizationSynced.new(
            producer=PRODUCER, organization_id=org["organization_id"],
            data=OrganizationData(organization_id=org["organization_id"], name=org["name"], active=org["active"],
                                  default_contact_id=org["default_contact_id"]),
        ))
    stored = await invoice_store.upsert_upstream(tx.conn, newest_per_invoice(from_upstream(e.data) for e in events))
    waiting = [r for r in stored if r.status == "open" and r.invoice_number is None]
    if waiting and await integration_store.revision(tx.conn, QUICKBOOKS) is not None:
        # Numbered through accounting first (the numbering worker publishes it then), as PSA invoices are:
        # an open invoice is never published without a number while accounting numbers them.
        await upstream_numbering_store.wake(tx.conn)
        stored = [r for r in stored if r not in waiting]
    publish_snapshots(tx, stored)


async def on_invoices_voided(tx: Tx, events: Sequence[UpstreamInvoiceVoided]) -> None:
    voided = await invoice_store.void_invoices(tx.conn, newest_per_invoice(void_from_upstream(e.data) for e in events))
    publish_snapshots(tx, voided)
