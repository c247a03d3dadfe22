"""Committing a ledger outcome: the payment's new rows, the invoices it moves, and its event, in the
caller's transaction."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from billing_shared.events import payments as events
from billing_shared.events.catalog import BILLING_PAYMENTS
from billing_shared.outbox import Tx

from billing_payments.adapters import payment_store
from billing_payments.domain.invoices import PayableInvoice
from billing_payments.domain.ledger import Outcome
from billing_payments.domain.payment import Payment

PRODUCER = "payments"
EVENT_CLASSES: dict[str, type[events.Event]] = {
    cls.TYPE: cls for cls in (
        events.PaymentSucceeded, events.PaymentFailed, events.PaymentUnapplied, events.PaymentApplied,
        events.PaymentRefunded, events.PaymentCancelled, events.PaymentSettlementFailed, events.PaymentChargedBack,
        events.PaymentRefundFailed,
    )
}


def publish_snapshot(tx: Tx, event_type: str, payment: Payment, correlation_id: str | None = None) -> None:
    tx.publish(BILLING_PAYMENTS, EVENT_CLASSES[event_type].new(
        producer=PRODUCER, organization_id=payment.organization_id, data=payment.snapshot(),
        correlation_id=correlation_id,
    ))


@dataclass(frozen=True)
class Committed:
    payment: Payment  # as stored, with its new version, for a caller that changes it again
    voided_invoices: set[str]  # invoices it moved money onto that turn out to be voided


async def commit_outcome(tx: Tx, before: Payment, outcome: Outcome, *, refund_via_gateway: bool = False,
                         correlation_id: str | None = None) -> Committed:
    saved, moved = await payment_store.save_and_move(
        tx.conn, before, outcome.payment, outcome.invoice_deltas, datetime.now(UTC).date(),
        refund_gateway_status="pending" if refund_via_gateway else "recorded")
    publish_snapshot(tx, outcome.event_type, saved, correlation_id)
    for invoice in moved.over_applied:  # a sale in flight landed on an invoice whose total was lowered meanwhile
        publish_over_applied(tx, invoice, correlation_id)
    return Committed(saved, moved.voided)


def publish_over_applied(tx: Tx, invoice: PayableInvoice, correlation_id: str | None = None) -> None:
    """Staff are told: the invoice's total is below what our payments apply to it."""
    tx.publish(BILLING_PAYMENTS, events.InvoiceOverApplied.new(
        producer=PRODUCER, organization_id=invoice.organization_id, correlation_id=correlation_id,
        data=events.InvoiceOverAppliedData(
            invoice_id=invoice.invoice_id, organization_id=invoice.organization_id,
            invoice_number=invoice.invoice_number, currency=invoice.currency,  # type: ignore[arg-type]
            total=invoice.total, applied=invoice.applied, over_by=invoice.applied - invoice.total,
            source_version=invoice.source_version),
    ))
