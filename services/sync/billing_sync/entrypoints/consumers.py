"""Which sync handler takes which event type, per consumer group."""
from billing_shared.kafka.runner import Batched

from billing_sync.service.upstream_invoices import on_invoices_upserted, on_invoices_voided
from billing_sync.service.writeback import on_payment_snapshots

UPSTREAM_INVOICE_HANDLERS = {
    "invoice.upserted": Batched(on_invoices_upserted),
    "invoice.voided": Batched(on_invoices_voided),
}

# Every payment snapshot (payment_method.added carries none and is not taken).
PAYMENT_HANDLERS = {
    event_type: Batched(on_payment_snapshots)
    for event_type in ("payment.succeeded", "payment.failed", "payment.unapplied", "payment.applied",
                       "payment.refunded", "payment.cancelled", "payment.settlement_failed",
                       "payment.charged_back", "payment.refund_failed")
}
