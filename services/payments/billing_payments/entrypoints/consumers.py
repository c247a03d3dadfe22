"""Which payments handler takes which event type."""
from billing_shared.kafka.runner import Batched

from billing_payments.service.autopay import on_balance_checked
from billing_payments.service.invoice_projection import on_contacts, on_invoice_snapshots
from billing_payments.service.reconciliation import on_books_checked

INVOICE_HANDLERS = {
    "invoice.synced": Batched(on_invoice_snapshots),
    "invoice.voided": Batched(on_invoice_snapshots),
}
DIRECTORY_HANDLERS = {"contact.synced": Batched(on_contacts)}
SYNC_HANDLERS = {"reconciliation.books_checked": on_books_checked}
# Sync's answers to autopay's balance checks (billing.sync.v1; its other types are not taken here).
AUTOPAY_HANDLERS = {"autopay.balance_checked": on_balance_checked}
