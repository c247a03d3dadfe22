"""How payments and invoices hold each other's amounts.

The applications recorded on payment lines are the single source of truth; an
invoice's `Balance` and `LinkedTxn` are recomputed from them whenever a payment
changes, so a balance can never drift from the payments behind it.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .books import SYSTEM_FIELDS
from .money import ZERO

if TYPE_CHECKING:
    from .books import Books


def line_applications(payment: dict[str, Any] | None) -> Iterator[tuple[str, Decimal]]:
    """(invoice Id, amount) for each invoice link on a payment's lines."""
    if payment is None or payment.get("_voided"):
        return
    for line in payment.get("Line", []):
        for link in line.get("LinkedTxn", []):
            if link.get("TxnType") == "Invoice":
                yield str(link["TxnId"]), line["Amount"]


def applied_to(books: Books, invoice_id: str, *, except_payment: str | None = None) -> Decimal:
    total = ZERO
    for payment in books.objects["Payment"].values():
        if payment["Id"] == except_payment:
            continue
        total += sum((a for i, a in line_applications(payment) if i == invoice_id), ZERO)
    return total


def payment_links(books: Books, invoice_id: str) -> list[dict[str, str]]:
    return [
        {"TxnId": payment["Id"], "TxnType": "Payment"}
        for payment in books.all("Payment")
        if any(i == invoice_id and a > 0 for i, a in line_applications(payment))
    ]


def refresh_invoice(books: Books, invoice_id: str) -> None:
    """Recompute Balance and LinkedTxn; store a new version only if they changed."""
    invoice = books.find("Invoice", invoice_id)
    if invoice is None or invoice.get("_voided"):
        return
    balance = invoice["TotalAmt"] - applied_to(books, invoice_id)
    links = payment_links(books, invoice_id)
    if balance == invoice["Balance"] and links == invoice.get("LinkedTxn", []):
        return
    fields = {k: copy.deepcopy(v) for k, v in invoice.items() if k not in SYSTEM_FIELDS}
    fields.update(Balance=balance, LinkedTxn=links)
    books.replace("Invoice", invoice, fields)


def unlink_invoice(books: Books, invoice_id: str) -> None:
    """An invoice voided or deleted: the money applied to it becomes unapplied on each payment."""
    for payment in books.all("Payment"):
        if not any(i == invoice_id for i, _ in line_applications(payment)):
            continue
        fields = {k: copy.deepcopy(v) for k, v in payment.items() if k not in SYSTEM_FIELDS}
        fields["Line"] = [
            line
            for line in fields.get("Line", [])
            if not any(str(link.get("TxnId")) == invoice_id for link in line.get("LinkedTxn", []))
        ]
        fields["UnappliedAmt"] = fields["TotalAmt"] - sum((l["Amount"] for l in fields["Line"]), ZERO)
        books.replace("Payment", payment, fields)


def invoices_touched(*payments: dict[str, Any] | None) -> set[str]:
    touched: set[str] = set()
    for payment in payments:
        if payment is None:
            continue
        for line in payment.get("Line", []):
            touched.update(
                str(link["TxnId"]) for link in line.get("LinkedTxn", []) if link.get("TxnType") == "Invoice"
            )
    return touched


def applied_by_invoice(payment: dict[str, Any]) -> dict[str, Decimal]:
    per_invoice: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for invoice_id, amount in line_applications(payment):
        per_invoice[invoice_id] += amount
    return per_invoice
