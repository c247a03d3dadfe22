"""The general ledger the transactions imply, for `/_sim/` checks: what each transaction debits and
credits, an account's register and balance, a customer's Accounts Receivable balance.

Invoices debit A/R and credit each line item's income account; payments debit their deposit account
and credit A/R (their unapplied part stays as the customer's credit); refund receipts debit each line
item's income account and credit the account paid from; journal entries post their lines. Voided
transactions hold zero amounts and post nothing."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .money import ZERO
from .rules_journal import RECEIVABLE

if TYPE_CHECKING:
    from .books import Books

# Account types whose balance is debits less credits; the others are credits less debits.
DEBIT_NORMAL = frozenset({"Bank", "Other Current Asset", "Fixed Asset", "Other Asset", RECEIVABLE,
                          "Expense", "Other Expense", "Cost of Goods Sold"})


@dataclass(frozen=True)
class Posting:
    account_id: str
    debit: Decimal  # negative: a credit
    txn_type: str
    txn_id: str
    customer_id: str | None


def receivable_account(books: Books) -> str:
    return next(a["Id"] for a in books.all("Account") if a["AccountType"] == RECEIVABLE)


def _item_account(books: Books, line: dict[str, Any]) -> str:
    item = books.get("Item", line["SalesItemLineDetail"]["ItemRef"]["value"])
    return str(item["IncomeAccountRef"]["value"])


def _sales_lines(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (line for line in obj.get("Line", []) if "SalesItemLineDetail" in line)


def postings(books: Books) -> Iterator[Posting]:
    receivable = receivable_account(books)
    for invoice in books.all("Invoice"):
        customer = invoice["CustomerRef"]["value"]
        yield Posting(receivable, invoice["TotalAmt"], "Invoice", invoice["Id"], customer)
        for line in _sales_lines(invoice):
            yield Posting(_item_account(books, line), -line["Amount"], "Invoice", invoice["Id"], customer)
    for payment in books.all("Payment"):
        customer = payment["CustomerRef"]["value"]
        deposit = payment["DepositToAccountRef"]["value"]
        yield Posting(deposit, payment["TotalAmt"], "Payment", payment["Id"], customer)
        yield Posting(receivable, -payment["TotalAmt"], "Payment", payment["Id"], customer)
    for receipt in books.all("RefundReceipt"):
        customer = receipt["CustomerRef"]["value"]
        for line in _sales_lines(receipt):
            yield Posting(_item_account(books, line), line["Amount"], "RefundReceipt", receipt["Id"], customer)
        yield Posting(receipt["DepositToAccountRef"]["value"], -receipt["TotalAmt"], "RefundReceipt",
                      receipt["Id"], customer)
    for entry in books.all("JournalEntry"):
        for line in entry["Line"]:
            detail = line["JournalEntryLineDetail"]
            sign = 1 if detail["PostingType"] == "Debit" else -1
            customer = (detail.get("Entity") or {}).get("EntityRef", {}).get("value")
            yield Posting(detail["AccountRef"]["value"], sign * line["Amount"], "JournalEntry", entry["Id"],
                          customer)


def account_register(books: Books, account_id: str) -> dict[str, Any]:
    """The account's movements and balance, each signed the way the account's balance grows."""
    account = books.get("Account", account_id)
    sign = 1 if account["AccountType"] in DEBIT_NORMAL else -1
    movements = [
        {"TxnType": p.txn_type, "TxnId": p.txn_id, "Amount": sign * p.debit}
        for p in postings(books)
        if p.account_id == account["Id"] and p.debit != 0
    ]
    balance = sum((m["Amount"] for m in movements), ZERO)
    return {"AccountId": account["Id"], "Name": account["Name"], "AccountType": account["AccountType"],
            "Balance": balance, "Movements": movements}


def customer_receivable(books: Books, customer_id: str) -> dict[str, Any]:
    """What the customer owes (negative: a credit the company owes back): open invoice balances less
    unapplied payment credit, plus the customer's journal lines on A/R."""
    customer = books.get("Customer", customer_id)["Id"]
    open_invoices = sum((i["Balance"] for i in books.all("Invoice") if i["CustomerRef"]["value"] == customer),
                        ZERO)
    unapplied = sum((p["UnappliedAmt"] for p in books.all("Payment") if p["CustomerRef"]["value"] == customer),
                    ZERO)
    receivable = receivable_account(books)
    journal = sum((p.debit for p in postings(books)
                   if p.txn_type == "JournalEntry" and p.account_id == receivable and p.customer_id == customer),
                  ZERO)
    return {"CustomerId": customer, "Balance": open_invoices - unapplied + journal,
            "OpenInvoices": open_invoices, "UnappliedPayments": unapplied, "JournalEntries": journal}
