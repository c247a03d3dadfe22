"""Autopay's balance check: right before payments charges an invoice on schedule, it asks sync (which holds
the accounting connection) what the books say now (`autopay.balance_check_requested`).

The accounting invoice is read back as the write-back reads touched invoices; the link is updated and the
invoice's snapshot recomposed and published when it changed (paid elsewhere, voided), as a sync run would;
then `autopay.balance_checked` answers, in the same transaction as the consumer's inbox row, so an answer is
published once per request. An invoice that accounting does not hold (no QuickBooks integration, or an
upstream invoice not linked there) is answered with no accounting balance and the status sync last published.
A failed read (QuickBooks down) fails the handler: the runner retries it, and payments asks again later.
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing_shared.events.autopay import AutopayBalanceChecked, AutopayBalanceCheckRequested, BalanceCheckedData
from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.kafka.runner import Handler
from billing_shared.outbox import Tx

from billing_sync.adapters import invoice_store, psa_invoice_store
from billing_sync.domain import psa as rows
from billing_sync.service.accounting_steps import link_update
from billing_sync.service.deps import Deps
from billing_sync.service.publishing import PRODUCER, PublishPolicy, republish
from billing_sync.service.writeback import verified_links


def balance_check_handler(deps: Deps) -> Handler:
    async def on_balance_check_requested(tx: Tx, event: AutopayBalanceCheckRequested) -> None:
        await check_balance(deps, tx, event)

    return on_balance_check_requested


async def check_balance(deps: Deps, tx: Tx, event: AutopayBalanceCheckRequested) -> None:
    invoice_id = event.data.invoice_id
    accounting = await deps.connections.quickbooks()
    balance = None
    if accounting is not None:
        current: dict[str, Any] | None = (await verified_links(deps, accounting.client, [invoice_id])).get(invoice_id)
        if current is not None:
            await psa_invoice_store.upsert_links(tx.conn, accounting.client.realm_id, [link_update(invoice_id, current)])
            balance = rows.parse_amount(current.get("Balance"))
    psa = await deps.connections.autotask()
    if psa is not None:
        policy = PublishPolicy(accounting is not None, psa.settings.currency, datetime.now(UTC).date())
        await republish(tx, [invoice_id], policy)
    status = await invoice_store.status_of(tx.conn, invoice_id)
    tx.publish(BILLING_SYNC, AutopayBalanceChecked.new(
        producer=PRODUCER, organization_id=event.organization_id, correlation_id=str(event.event_id),
        data=BalanceCheckedData(attempt_id=event.data.attempt_id, invoice_id=invoice_id, accounting_balance=balance,
                                paid_elsewhere=status == "paid", voided=status == "voided",
                                checked_at=datetime.now(UTC))))
