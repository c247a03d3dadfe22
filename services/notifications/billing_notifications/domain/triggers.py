"""Which source events raise which notification, and the key that makes it happen once.

A notification exists once per (type, dedupe key). The key is the source event id, or a business
id where the fact itself can only happen once (a payment succeeds once, an invoice becomes
available once, a sync run fails once, a stall is raised once per last completed run), so that
a producer that re-publishes the same fact under a new event id does not notify twice either.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from billing_shared.events import Event
from billing_shared.events.envelope import Data
from billing_shared.events.invoices import InvoiceSnapshot
from billing_shared.events.payments import PaymentSnapshot

from .freshness import utc

# A payment reaches each of these states once: the payment id is the fact's identity.
ONCE_PER_PAYMENT = {"payment.succeeded", "payment.failed", "payment.cancelled", "payment.charged_back",
                    "payment.settlement_failed"}
# These can happen several times to one payment (partial refunds, one void per invoice).
ONCE_PER_EVENT = {"payment.refunded", "payment.unapplied"}


@dataclass(frozen=True)
class Trigger:
    type: str
    dedupe_key: str
    organization_id: str
    source_event_id: str
    facts: Data
    invoice_ids: tuple[str, ...] = field(default=())


def trigger_for(event: Event) -> Trigger | None:
    """The notification an event raises, if any (no I/O)."""
    kind, data, event_id = event.event_type, event.data, str(event.event_id)

    def make(key: str, invoice_ids: tuple[str, ...] = ()) -> Trigger:
        return Trigger(kind if kind != "invoice.synced" else "invoice.available", key, event.organization_id,
                       event_id, data, invoice_ids)

    if kind == "invoice.synced":
        invoice: InvoiceSnapshot = data
        if invoice.status != "open" or not invoice.invoice_number:
            return None  # not payable yet: nothing to announce
        return make(invoice.invoice_id, (invoice.invoice_id,))
    if kind in ONCE_PER_PAYMENT or kind in ONCE_PER_EVENT:
        payment: PaymentSnapshot = data
        invoices = tuple(a.invoice_id for a in payment.applications)
        return make(payment.payment_id if kind in ONCE_PER_PAYMENT else event_id, invoices)
    if kind == "payment_method.added":
        return make(data.method_id)
    if kind == "sync.failed":
        return make(f"{event.organization_id}:{data.integration}:{data.run_id}")
    if kind == "sync.stalled":
        since = utc(data.last_completed_at).isoformat() if data.last_completed_at else "never"
        return make(f"{event.organization_id}:{data.integration}:{since}")
    if kind == "integration.connection_failed":
        return make(event_id)
    return None
