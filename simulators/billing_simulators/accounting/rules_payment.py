"""Payment (receive payment): money from a customer, applied to invoices line by line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import ledger
from .money import ZERO, to_money
from .rules import EntityRules, customer_in_its_currency, resolve_ref, text_field
from .rules_lists import UNDEPOSITED_FUNDS_ACCOUNT_ID
from .timestamps import is_iso_date, today
from .wire import business_error, invalid, not_found, required

if TYPE_CHECKING:
    from .books import Books


class PaymentRules(EntityRules):
    read_only = frozenset({"UnappliedAmt"})

    def prepare(self, books: Books, candidate: dict[str, Any], current: dict | None) -> dict:
        customer = customer_in_its_currency(books, candidate, "payment")
        total = to_money(candidate.get("TotalAmt"), "TotalAmt")
        candidate["TotalAmt"] = total
        candidate["Line"] = [_line(books, raw, customer["value"]) for raw in candidate.get("Line") or []]
        applied = sum((line["Amount"] for line in candidate["Line"]), ZERO)
        if applied > total:
            raise business_error(
                f"The amounts applied ({applied}) are more than the payment's TotalAmt ({total})",
                "Line.Amount",
            )
        payment_id = current["Id"] if current else None
        for invoice_id, amount in ledger.applied_by_invoice(candidate).items():
            invoice = books.get("Invoice", invoice_id)
            open_balance = invoice["TotalAmt"] - ledger.applied_to(
                books, invoice_id, except_payment=payment_id
            )
            if amount > open_balance:
                raise business_error(
                    f"The amount applied ({amount}) is more than the open balance ({open_balance}) "
                    f"of Invoice Id={invoice_id} DocNumber={invoice.get('DocNumber')}",
                    "Line.Amount",
                )
        candidate["UnappliedAmt"] = total - applied
        candidate["TxnDate"] = str(candidate.get("TxnDate") or today())
        if not is_iso_date(candidate["TxnDate"]):
            raise invalid("TxnDate must be a date YYYY-MM-DD", "TxnDate")
        text_field(candidate, "PaymentRefNum", 21)
        text_field(candidate, "PrivateNote", 4000)
        deposit = candidate.get("DepositToAccountRef") or {"value": UNDEPOSITED_FUNDS_ACCOUNT_ID}
        candidate["DepositToAccountRef"] = resolve_ref(books, "Account", deposit, "DepositToAccountRef")
        candidate.setdefault("ProcessPayment", False)
        return candidate

    def after_write(self, books: Books, before: dict | None, after: dict | None) -> None:
        for invoice_id in sorted(ledger.invoices_touched(before, after), key=int):
            ledger.refresh_invoice(books, invoice_id)

    def before_delete(self, books: Books, current: dict[str, Any]) -> None:
        """Payments can be deleted; their invoices get the balance back (after_write)."""

    def voided(self, books: Books, obj: dict[str, Any]) -> dict[str, Any]:
        for line in obj.get("Line", []):
            line["Amount"] = ZERO
        obj.update(TotalAmt=ZERO, UnappliedAmt=ZERO, PrivateNote="Voided")
        return obj


def _line(books: Books, raw: object, customer_id: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid("Each Line must be an object", "Line")
    amount = to_money(raw.get("Amount"), "Line.Amount")
    links = raw.get("LinkedTxn") or []
    if len(links) != 1:
        raise required("Line.LinkedTxn")
    link = links[0]
    if link.get("TxnType") != "Invoice":
        raise invalid(f"The simulator applies payments to invoices only, got {link.get('TxnType')!r}")
    invoice = books.find("Invoice", link.get("TxnId"))
    if invoice is None:
        raise not_found("Invoice", link.get("TxnId"))
    if invoice.get("_voided"):
        raise business_error(f"Invoice Id={invoice['Id']} is voided; nothing can be applied to it")
    if invoice["CustomerRef"]["value"] != customer_id:
        raise business_error(
            f"Invoice Id={invoice['Id']} belongs to another customer than the payment"
        )
    return {"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}
