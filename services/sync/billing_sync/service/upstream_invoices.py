"""Handlers of `upstream.invoices.v1`: store newer versions, publish snapshots through the outbox."""
from __future__ import annotations

from collections.abc import Sequence

from billing_shared.events.catalog import BILLING_DIRECTORY
from billing_shared.events.directory import OrganizationData, OrganizationSynced
from billing_shared.events.upstream import InvoiceUpserted, UpstreamInvoiceVoided
from billing_shared.ids import make_id
from billing_shared.outbox import Tx

from billing_sync.adapters import invoice_store
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
    stored = await invoice_store.upsert_invoices(tx.conn, newest_per_invoice(from_upstream(e.data) for e in events))
    publish_snapshots(tx, stored)


async def on_invoices_voided(tx: Tx, events: Sequence[UpstreamInvoiceVoided]) -> None:
    voided = await invoice_store.void_invoices(tx.conn, newest_per_invoice(void_from_upstream(e.data) for e in events))
    publish_snapshots(tx, voided)
