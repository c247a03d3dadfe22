"""Which sync handler takes which event type, per consumer group."""
from billing_shared.kafka.runner import Batched, Handler

from billing_sync.service.books_check import on_reconciliation_requested, on_writeback_resend_requested
from billing_sync.service.upstream_invoices import on_invoices_upserted, on_invoices_voided
from billing_sync.service.writeback import on_payment_snapshots

UPSTREAM_INVOICE_HANDLERS = {
    "invoice.upserted": Batched(on_invoices_upserted),
    "invoice.voided": Batched(on_invoices_voided),
}

# Every payment snapshot (payment_method.added carries none and is not taken).
PAYMENT_HANDLERS: dict[str, Handler | Batched] = {
    event_type: Batched(on_payment_snapshots)
    for event_type in ("payment.succeeded", "payment.failed", "payment.unapplied", "payment.applied",
                       "payment.refunded", "payment.cancelled", "payment.settlement_failed",
                       "payment.charged_back", "payment.refund_failed")
}
# Reconciliation: a request or a re-send is only recorded here; the books check worker does the work.
PAYMENT_HANDLERS["reconciliation.requested"] = on_reconciliation_requested
PAYMENT_HANDLERS["writeback.resend_requested"] = on_writeback_resend_requested
# Its own group (sync-autopay-checks); the handler needs the service deps, so bootstrap makes it.
AUTOPAY_CHECK_TYPES = ("autopay.balance_check_requested",)
