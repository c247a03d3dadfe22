"""Publishing invoice snapshots: the one place records become `billing.invoices.v1` events.

PSA-read invoices are composed from the PSA row, the accounting link and our own write-backs, and
go through the same upsert (and version rule) as `upstream.invoices.v1`: sync gives them stored
version + 1 whenever something it publishes changed, so their snapshots stay ordered.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from billing_shared.events.catalog import BILLING_INVOICES
from billing_shared.events.invoices import InvoiceSynced, InvoiceVoided
from billing_shared.outbox import Tx

from billing_sync.adapters import invoice_store, psa_invoice_store
from billing_sync.domain.invoices import InvoiceRecord, compose_psa_record, next_version

PRODUCER = "sync"


@dataclass(frozen=True)
class PublishPolicy:
    numbered_by_accounting: bool  # accounting is integrated: the number is its DocNumber
    default_currency: str
    today: date


def publish_snapshots(tx: Tx, records: Sequence[InvoiceRecord], correlation_id: str | None = None) -> None:
    for record in records:
        event_class = InvoiceVoided if record.status == "voided" else InvoiceSynced
        tx.publish(BILLING_INVOICES, event_class.new(
            producer=PRODUCER, organization_id=record.organization_id, data=record.snapshot(),
            correlation_id=correlation_id,
        ))


async def republish(tx: Tx, invoice_ids: Sequence[str], policy: PublishPolicy,
                    lines: dict[str, tuple[dict, ...]] | None = None) -> list[InvoiceRecord]:
    """Compose the snapshot of each PSA invoice; store and publish those that changed."""
    changed: list[InvoiceRecord] = []
    for item in await psa_invoice_store.compose_inputs(tx.conn, sorted(set(invoice_ids))):
        fresh = compose_psa_record(item.psa, item.link, item.ours, numbered_by_accounting=policy.numbered_by_accounting,
                                   default_currency=policy.default_currency, today=policy.today,
                                   lines=(lines or {}).get(item.psa.invoice_id, ()), ours_paid_on=item.ours_paid_on)
        record = next_version(item.stored, fresh)
        if record is not None:
            changed.append(record)
    stored = await invoice_store.upsert_invoices(tx.conn, changed)
    publish_snapshots(tx, stored)
    return stored
