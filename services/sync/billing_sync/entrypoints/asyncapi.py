"""What sync sends and receives on Kafka, for its AsyncAPI document (GET /asyncapi.json).

The consumer groups name the handler maps bootstrap.py wires them with; the published classes are the ones
sync's `tx.publish(...)` calls write (a test compares both with the code).
"""
from billing_shared.events import autopay, directory, invoices, reconciliation, sync
from billing_shared.events.asyncapi import Consumer, EventSurface
from billing_shared.events.catalog import (
    BILLING_DIRECTORY, BILLING_INVOICES, BILLING_PAYMENTS, BILLING_SYNC, UPSTREAM_INVOICES,
)

from billing_sync.entrypoints.consumers import AUTOPAY_CHECK_TYPES, PAYMENT_HANDLERS, UPSTREAM_INVOICE_HANDLERS

SURFACE = EventSurface(
    service="sync",
    description="Sync reads the PSA and accounting systems and upstream invoice events, and publishes invoice "
                "snapshots, the organization and contact directory, sync runs and books checks; it takes payment "
                "snapshots to write them back to the PSA and accounting.",
    publishes={
        BILLING_INVOICES: (invoices.InvoiceSynced, invoices.InvoiceVoided),
        BILLING_DIRECTORY: (directory.OrganizationSynced, directory.ContactSynced),
        BILLING_SYNC: (sync.SyncStarted, sync.SyncProgress, sync.SyncCompleted, sync.SyncFailed,
                       sync.SyncRecordFailed, sync.IntegrationConnectionFailed, reconciliation.BooksChecked,
                       autopay.AutopayBalanceChecked),
    },
    consumes=(
        Consumer.of("sync-upstream-invoices", UPSTREAM_INVOICES, UPSTREAM_INVOICE_HANDLERS),
        Consumer.of("sync-payment-writeback", BILLING_PAYMENTS, PAYMENT_HANDLERS),
        Consumer.of("sync-autopay-checks", BILLING_PAYMENTS, AUTOPAY_CHECK_TYPES),
    ),
)
