"""The accounts a refund is booked through, found by name or created once per company.

A refund of money the customer had paid (a sale left partly unapplied by a void, then refunded) is two
entries, the way an accountant records a refund of a customer's credit in QuickBooks: a RefundReceipt
whose line is the item "Customer refund (billing-link)" (it debits that item's account, a clearing
liability, and credits the account the money was deposited to), and a JournalEntry that debits
Accounts Receivable for the customer and credits the same clearing account. The customer's credit is
closed, clearing nets to zero, income is untouched, and the bank shows the deposit and the refund.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing_sync.adapters.accounting import PAGE, Accounting
from billing_sync.adapters.quickbooks import quote
from billing_sync.adapters.quickbooks_errors import QuickBooksFault

CLEARING_ACCOUNT = "Customer refunds clearing (billing-link)"
REFUND_ITEM = "Customer refund (billing-link)"
RECEIVABLE = "Accounts Receivable"
DUPLICATE_NAME = "6240"


@dataclass(frozen=True)
class RefundAccounts:
    item_id: str  # the refund receipt's line
    clearing_account_id: str  # the item's account, which the journal entry credits
    receivable_account_id: str  # debited for the customer by the journal entry


async def refund_accounts(accounting: Accounting, currency: str) -> RefundAccounts:
    """Found by name each time (a reset sandbox reuses ids, so remembered ids could name other objects).
    The journal entry credits the account the item posts to now, so an item an accountant re-pointed
    still nets to zero."""
    clearing = await _find_or_create(accounting, "Account", {
        "Name": CLEARING_ACCOUNT, "AccountType": "Other Current Liability",
        "AccountSubType": "OtherCurrentLiabilities",
        "Description": "Refunds of customers' payments, closed against Accounts Receivable by billing-link"})
    item = await _find_or_create(accounting, "Item", {
        "Name": REFUND_ITEM, "Type": "Service", "IncomeAccountRef": {"value": str(clearing["Id"])},
        "Description": "Money paid back to a customer out of a payment (billing-link)"})
    posts_to = str((item.get("IncomeAccountRef") or {}).get("value") or clearing["Id"])
    return RefundAccounts(str(item["Id"]), posts_to, await _receivable(accounting, currency))


async def _find_or_create(accounting: Accounting, entity: str, fields: dict[str, Any]) -> dict[str, Any]:
    found = await _named(accounting, entity, fields["Name"])
    if found is not None:
        return found
    try:
        return await accounting.client.create(entity, fields)
    except QuickBooksFault as fault:
        if fault.code != DUPLICATE_NAME:
            raise
        found = await _named(accounting, entity, fields["Name"])  # another replica made it first
        if found is None:  # an inactive object holds the name: the accountant must act
            raise
        return found


async def _named(accounting: Accounting, entity: str, name: str) -> dict[str, Any] | None:
    async for found in accounting.client.query(f"SELECT * FROM {entity} WHERE Name = {quote(name)}"):
        return found
    return None


async def _receivable(accounting: Accounting, currency: str) -> str:
    """The A/R account in the payment's currency (QuickBooks keeps one per currency in multicurrency books;
    an account without a currency is the home currency's)."""
    accounts = [a async for a in accounting.client.query(
        f"SELECT * FROM Account WHERE AccountType = {quote(RECEIVABLE)}", page_size=PAGE)]
    same = [a for a in accounts if (a.get("CurrencyRef") or {}).get("value") == currency]
    chosen = same or [a for a in accounts if not a.get("CurrencyRef")]
    if not chosen:
        raise RuntimeError(f"accounting has no {RECEIVABLE} account in {currency}")
    return str(chosen[0]["Id"])
