"""JournalEntry: debit and credit lines that must balance. A line on an Accounts Receivable account
names the customer (QuickBooks refuses it otherwise); it then moves that customer's A/R balance."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .money import ZERO, to_money
from .rules import EntityRules, currency_ref, resolve_ref, text_field
from .timestamps import is_iso_date, today
from .wire import business_error, invalid, required

if TYPE_CHECKING:
    from .books import Books

POSTING_TYPES = ("Debit", "Credit")
RECEIVABLE = "Accounts Receivable"


class JournalEntryRules(EntityRules):
    read_only = frozenset({"TotalAmt", "HomeTotalAmt"})

    def prepare(self, books: Books, candidate: dict[str, Any], current: dict | None) -> dict:
        raw_lines = candidate.get("Line")
        if not raw_lines:
            raise required("Line")
        if not isinstance(raw_lines, list):
            raise invalid("Line must be a list", "Line")
        candidate["CurrencyRef"] = currency_ref(candidate.get("CurrencyRef"))
        candidate["Line"] = [_line(books, raw, candidate["CurrencyRef"]["value"]) for raw in raw_lines]
        debits = _total(candidate["Line"], "Debit")
        credits = _total(candidate["Line"], "Credit")
        if debits != credits:
            raise business_error(
                f"Transaction must balance: the debits ({debits}) differ from the credits ({credits})"
            )
        candidate["TotalAmt"] = debits
        candidate["TxnDate"] = str(candidate.get("TxnDate") or today())
        if not is_iso_date(candidate["TxnDate"]):
            raise invalid("TxnDate must be a date YYYY-MM-DD", "TxnDate")
        text_field(candidate, "PrivateNote", 4000)
        text_field(candidate, "DocNumber", 21)
        return candidate

    def before_delete(self, books: Books, current: dict[str, Any]) -> None:
        """Journal entries can be deleted (QuickBooks keeps the deletion in its audit log)."""


def _total(lines: list[dict[str, Any]], posting: str) -> Any:
    return sum(
        (l["Amount"] for l in lines if l["JournalEntryLineDetail"]["PostingType"] == posting), ZERO
    )


def _line(books: Books, raw: object, currency: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid("Each Line must be an object", "Line")
    if raw.get("DetailType") != "JournalEntryLineDetail":
        raise invalid("A journal entry line has DetailType JournalEntryLineDetail", "Line.DetailType")
    detail = raw.get("JournalEntryLineDetail")
    if not isinstance(detail, dict):
        raise required("Line.JournalEntryLineDetail")
    if detail.get("PostingType") not in POSTING_TYPES:
        raise invalid("PostingType must be Debit or Credit", "Line.JournalEntryLineDetail.PostingType")
    account = resolve_ref(books, "Account", detail.get("AccountRef"), "Line.JournalEntryLineDetail.AccountRef")
    clean: dict[str, Any] = {"PostingType": detail["PostingType"], "AccountRef": account}
    entity = detail.get("Entity")
    if entity is not None:
        if not isinstance(entity, dict) or entity.get("Type") != "Customer":
            raise invalid("The simulator takes customers only as a journal line's Entity", "Line.Entity")
        customer = resolve_ref(books, "Customer", entity.get("EntityRef"), "Line.Entity.EntityRef")
        if books.get("Customer", customer["value"])["CurrencyRef"]["value"] != currency:
            raise business_error(f"The customer's currency differs from the journal entry's {currency}")
        clean["Entity"] = {"Type": "Customer", "EntityRef": customer}
    if books.get("Account", account["value"])["AccountType"] == RECEIVABLE and "Entity" not in clean:
        raise business_error("When you use Accounts Receivable, you must choose a customer in the Name field.")
    line: dict[str, Any] = {
        "Amount": to_money(raw.get("Amount"), "Line.Amount"),
        "DetailType": "JournalEntryLineDetail",
        "JournalEntryLineDetail": clean,
    }
    if raw.get("Description") is not None:
        line["Description"] = str(raw["Description"])
    return line
