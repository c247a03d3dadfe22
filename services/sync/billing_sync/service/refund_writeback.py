"""Refunds in accounting: each refund that stands is a refund receipt and a journal entry.

The accounting payment keeps the sale, so the refunded part of it is the customer's unapplied credit in
Accounts Receivable. The receipt pays that money back out of the deposit account through the refund item
(it debits the clearing account); the journal entry debits Accounts Receivable for the customer and
credits the clearing account, closing the credit (adapters/refund_accounts.py says why). Both carry the
refund's marker in their PrivateNote and are looked up by it before a create, so a retry or a crash between
a create and done never makes a second one; both are deleted once the refund no longer stands (it failed,
or the payment was cancelled or charged back: the voided payment then takes the whole sale out).
"""
from __future__ import annotations

from typing import Any

from billing_sync.adapters import writeback_store
from billing_sync.adapters.accounting import Accounting
from billing_sync.adapters.quickbooks import JournalLine
from billing_sync.adapters.refund_accounts import RefundAccounts, refund_accounts
from billing_sync.adapters.writeback_store import Pending
from billing_sync.domain.writeback import RefundTarget, refund_marker, refund_memo, refunds_for
from billing_sync.service.customers import customer_for
from billing_sync.service.deps import Deps


async def reconcile_refunds(deps: Deps, accounting: Accounting, pending: Pending) -> None:
    snapshot = pending.snapshot
    refunds = refunds_for(snapshot)
    if not refunds:
        return
    customer_id = await customer_for(deps.uow, accounting, pending.organization_id, snapshot.currency)
    since = min(r.at for r in refunds)
    receipts = await accounting.refund_receipts(customer_id, since)
    entries = await accounting.journal_entries(since)
    books: RefundAccounts | None = None
    for refund in refunds:
        receipt, entry = _marked(receipts, snapshot.payment_id, refund), _marked(entries, snapshot.payment_id, refund)
        if not refund.stands:
            for found in receipt:
                await accounting.delete("RefundReceipt", str(found["Id"]))
            for found in entry:
                await accounting.delete("JournalEntry", str(found["Id"]))
            continue
        if receipt and entry:
            continue
        books = books or await refund_accounts(accounting, snapshot.currency)
        note = refund_memo(snapshot, refund)
        if not receipt:
            deposit_account = await _deposit_account(deps, accounting, snapshot.payment_id)
            if deposit_account is None:  # never expected: the payment was written just before; retried
                raise RuntimeError(f"no accounting payment to refund from for payment {snapshot.payment_id}")
            await accounting.create_refund_receipt(customer_id, refund.amount, books.item_id, deposit_account,
                                                   snapshot.currency, note, refund.at.date())
        if not entry:
            lines = [JournalLine("Debit", books.receivable_account_id, refund.amount, note, customer_id),
                     JournalLine("Credit", books.clearing_account_id, refund.amount, note)]
            await accounting.create_journal_entry(lines, snapshot.currency, note, refund.at.date())


def _marked(found: list[dict[str, Any]], payment_id: str, refund: RefundTarget) -> list[dict[str, Any]]:
    mark = refund_marker(payment_id, refund.number)
    return [f for f in found if mark in str(f.get("PrivateNote") or "")]


async def _deposit_account(deps: Deps, accounting: Accounting, payment_id: str) -> str | None:
    """The refund is paid out of the account the payment was deposited to."""
    account_id = await writeback_store.accounting_payment_id(deps.pool, payment_id)
    if account_id is None:
        return None
    deposit = (await accounting.get("Payment", account_id)).get("DepositToAccountRef") or {}
    return str(deposit["value"]) if deposit.get("value") else None
