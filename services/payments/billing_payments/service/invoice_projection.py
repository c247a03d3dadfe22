"""Keeps payments' invoice projection current from `billing.invoices.v1`."""
from __future__ import annotations

from collections.abc import Sequence

from billing_shared.events.invoices import InvoiceSynced, InvoiceVoided
from billing_shared.outbox import Tx

from billing_payments.adapters import invoice_store


async def on_invoice_snapshots(tx: Tx, events: Sequence[InvoiceSynced | InvoiceVoided]) -> None:
    await invoice_store.project_snapshots(tx.conn, [e.data for e in events])
