"""What payments sends and receives on Kafka, for its AsyncAPI document (GET /asyncapi.json).

The consumer groups name the handler maps bootstrap.py wires them with; the published classes are the ones
payments' `tx.publish(...)` calls write (a test compares both with the code).
"""
from billing_shared.events import autopay, payments, reconciliation
from billing_shared.events.asyncapi import Consumer, EventSurface
from billing_shared.events.catalog import BILLING_DIRECTORY, BILLING_INVOICES, BILLING_PAYMENTS, BILLING_SYNC

from billing_payments.entrypoints.consumers import AUTOPAY_HANDLERS, DIRECTORY_HANDLERS, INVOICE_HANDLERS, SYNC_HANDLERS

SURFACE = EventSurface(
    service="payments",
    description="Payments keeps the ledger of payments and their applications to invoices: it publishes a full "
                "payment snapshot on every change, wallet, reconciliation and autopay events; it takes invoice "
                "snapshots, contacts, books checks and autopay balance answers.",
    publishes={
        BILLING_PAYMENTS: (
            payments.PaymentSucceeded, payments.PaymentFailed, payments.PaymentUnapplied, payments.PaymentApplied,
            payments.PaymentRefunded, payments.PaymentCancelled, payments.PaymentSettlementFailed,
            payments.PaymentChargedBack, payments.PaymentRefundFailed, payments.InvoiceOverApplied,
            payments.PaymentMethodAdded, reconciliation.ReconciliationRequested,
            reconciliation.ReconciliationCompleted, reconciliation.WritebackResendRequested,
            autopay.AutopayBalanceCheckRequested, autopay.AutopayUpcoming, autopay.AutopaySucceeded,
            autopay.AutopayFailed,
        ),
    },
    consumes=(
        Consumer.of("payments-invoices", BILLING_INVOICES, INVOICE_HANDLERS),
        Consumer.of("payments-directory", BILLING_DIRECTORY, DIRECTORY_HANDLERS),
        Consumer.of("payments-reconciliation", BILLING_SYNC, SYNC_HANDLERS),
        Consumer.of("payments-autopay", BILLING_SYNC, AUTOPAY_HANDLERS),
    ),
)
