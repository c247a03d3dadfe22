"""Which payments handler takes which event type."""
from billing_shared.kafka.runner import Batched

from billing_payments.service.invoice_projection import on_contacts, on_invoice_snapshots

INVOICE_HANDLERS = {
    "invoice.synced": Batched(on_invoice_snapshots),
    "invoice.voided": Batched(on_invoice_snapshots),
}
DIRECTORY_HANDLERS = {"contact.synced": Batched(on_contacts)}
