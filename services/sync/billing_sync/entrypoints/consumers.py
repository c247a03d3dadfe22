"""Which sync handler takes which event type, per consumer group."""
from billing_shared.kafka.runner import Batched

from billing_sync.service.upstream_invoices import on_invoices_upserted, on_invoices_voided

UPSTREAM_INVOICE_HANDLERS = {
    "invoice.upserted": Batched(on_invoices_upserted),
    "invoice.voided": Batched(on_invoices_voided),
}
