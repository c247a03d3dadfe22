"""RefundReceipt: money paid back to a customer, out of the account named by DepositToAccountRef
(required), with sales lines saying what the refund is for. It moves no invoice balance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .money import ZERO
from .rules import EntityRules, customer_in_its_currency, resolve_ref, text_field
from .rules_invoice import invoice_lines
from .timestamps import is_iso_date, today
from .wire import business_error, invalid, required

if TYPE_CHECKING:
    from .books import Books


class RefundReceiptRules(EntityRules):
    read_only = frozenset({"TotalAmt", "HomeTotalAmt"})

    def prepare(self, books: Books, candidate: dict[str, Any], current: dict | None) -> dict:
        customer_in_its_currency(books, candidate, "refund")
        if candidate.get("DepositToAccountRef") is None:
            raise required("DepositToAccountRef")
        candidate["DepositToAccountRef"] = resolve_ref(
            books, "Account", candidate["DepositToAccountRef"], "DepositToAccountRef"
        )
        candidate["Line"] = invoice_lines(books, candidate.get("Line"))
        total = sum((l["Amount"] for l in candidate["Line"] if "SalesItemLineDetail" in l), ZERO)
        if total <= 0:
            raise business_error(f"The refund total {total} must be more than zero")
        candidate["TotalAmt"] = total
        candidate["TxnDate"] = str(candidate.get("TxnDate") or today())
        if not is_iso_date(candidate["TxnDate"]):
            raise invalid("TxnDate must be a date YYYY-MM-DD", "TxnDate")
        text_field(candidate, "PrivateNote", 4000)
        text_field(candidate, "PaymentRefNum", 21)
        return candidate

    def before_delete(self, books: Books, current: dict[str, Any]) -> None:
        """Refund receipts can be deleted (QuickBooks keeps the deletion in its audit log)."""
