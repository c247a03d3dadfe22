"""Invoice: numbered lines, a computed total, a balance that follows the payments."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import ledger
from .money import ZERO, to_money, to_quantity
from .rules import EntityRules, currency_ref, resolve_ref, text_field
from .rules_lists import SERVICES_ITEM_ID
from .timestamps import is_iso_date, today
from .wire import QboError, business_error, invalid, required

if TYPE_CHECKING:
    from .books import Books

MAX_DOC_NUMBER_LENGTH = 21


class InvoiceRules(EntityRules):
    read_only = frozenset({"TotalAmt", "Balance", "LinkedTxn", "HomeBalance", "HomeTotalAmt"})

    def prepare(self, books: Books, candidate: dict[str, Any], current: dict | None) -> dict:
        customer = resolve_ref(books, "Customer", candidate.get("CustomerRef"), "CustomerRef")
        candidate["CustomerRef"] = customer
        customer_currency = books.get("Customer", customer["value"])["CurrencyRef"]["value"]
        candidate["CurrencyRef"] = currency_ref(candidate.get("CurrencyRef"), customer_currency)
        if candidate["CurrencyRef"]["value"] != customer_currency:
            raise business_error(
                f"The invoice currency {candidate['CurrencyRef']['value']} differs from the "
                f"customer's currency {customer_currency}",
                "CurrencyRef",
            )
        candidate["Line"] = invoice_lines(books, candidate.get("Line"))
        total = sum((l["Amount"] for l in candidate["Line"] if "SalesItemLineDetail" in l), ZERO)
        candidate["Line"].append(
            {"Amount": total, "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}}
        )
        if total < 0:
            raise business_error(f"The invoice total {total} is negative; use a credit memo instead")
        candidate["TotalAmt"] = total
        invoice_id = current["Id"] if current else None
        applied = ledger.applied_to(books, invoice_id) if invoice_id else ZERO
        if total < applied:
            raise business_error(
                f"The invoice total {total} is lower than the {applied} already paid on it"
            )
        candidate["Balance"] = total - applied
        candidate.setdefault("LinkedTxn", [])
        # An update that leaves DocNumber out keeps the number (a number is never re-issued).
        given_number = candidate.get("DocNumber") or (current or {}).get("DocNumber")
        candidate["DocNumber"] = _doc_number(books, given_number, invoice_id)
        candidate["TxnDate"] = _date(candidate, "TxnDate", today())
        candidate["DueDate"] = _date(candidate, "DueDate", candidate["TxnDate"])
        text_field(candidate, "PrivateNote", 4000)
        candidate.setdefault("EmailStatus", "NotSet")
        candidate.setdefault("PrintStatus", "NotSet")
        return candidate

    def after_write(self, books: Books, before: dict | None, after: dict | None) -> None:
        if before is not None and (after is None or (after.get("_voided") and not before.get("_voided"))):
            ledger.unlink_invoice(books, before["Id"])

    def before_delete(self, books: Books, current: dict[str, Any]) -> None:
        """Invoices can be deleted; their payments keep the money as unapplied (after_write)."""

    def voided(self, books: Books, obj: dict[str, Any]) -> dict[str, Any]:
        for line in obj["Line"]:
            line["Amount"] = ZERO
        obj.update(TotalAmt=ZERO, Balance=ZERO, LinkedTxn=[], PrivateNote="Voided")
        return {k: v for k, v in obj.items() if k not in {"Id", "SyncToken", "MetaData"}}


def invoice_lines(books: Books, raw_lines: object) -> list[dict[str, Any]]:
    if not raw_lines:
        raise required("Line")
    if not isinstance(raw_lines, list):
        raise invalid("Line must be a list", "Line")
    lines: list[dict[str, Any]] = []
    for raw in raw_lines:
        kind = raw.get("DetailType") if isinstance(raw, dict) else None
        if kind == "SubTotalLineDetail":
            continue  # recomputed below, whatever the caller sent
        if kind == "DescriptionOnly":
            lines.append({"DetailType": kind, "Description": str(raw.get("Description", ""))})
            continue
        if kind != "SalesItemLineDetail":
            raise invalid(f"Unsupported line DetailType {kind!r}", "Line.DetailType")
        lines.append(_sales_line(books, raw))
    if not any("SalesItemLineDetail" in line for line in lines):
        raise required("Line.SalesItemLineDetail")
    for number, line in enumerate(lines, start=1):
        line["Id"], line["LineNum"] = str(number), number
    return lines


def _sales_line(books: Books, raw: dict[str, Any]) -> dict[str, Any]:
    detail = dict(raw.get("SalesItemLineDetail") or {})
    amount = to_money(raw.get("Amount"), "Line.Amount", allow_negative=True)
    detail["ItemRef"] = resolve_ref(
        books, "Item", detail.get("ItemRef") or {"value": SERVICES_ITEM_ID}, "ItemRef"
    )
    if detail.get("Qty") is not None:
        detail["Qty"] = to_quantity(detail["Qty"], "Qty")
    if detail.get("UnitPrice") is not None:
        detail["UnitPrice"] = to_quantity(detail["UnitPrice"], "UnitPrice")
    if detail.get("Qty") is not None and detail.get("UnitPrice") is not None:
        expected = (detail["Qty"] * detail["UnitPrice"]).quantize(Decimal("0.01"))
        if expected != amount:
            raise QboError(
                400,
                "6070",
                "Amount is not equal to UnitPrice * Qty",
                f"Amount {amount} is not equal to UnitPrice {detail['UnitPrice']} * Qty {detail['Qty']}",
                element="Line.Amount",
            )
    detail.setdefault("TaxCodeRef", {"value": "NON"})
    line = {"Amount": amount, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": detail}
    if raw.get("Description") is not None:
        line["Description"] = str(raw["Description"])
    return line


def _doc_number(books: Books, given: object, invoice_id: str | None) -> str:
    taken = {
        inv["DocNumber"]: inv["Id"]
        for inv in books.objects["Invoice"].values()
        if inv.get("DocNumber") and inv["Id"] != invoice_id
    }
    if given in (None, ""):
        while str(books.next_doc_number) in taken:
            books.next_doc_number += 1
        number = str(books.next_doc_number)
        books.next_doc_number += 1
        return number
    number = str(given)
    if len(number) > MAX_DOC_NUMBER_LENGTH:
        raise invalid(f"DocNumber is longer than {MAX_DOC_NUMBER_LENGTH} characters", "DocNumber")
    if number in taken:
        raise QboError(
            400,
            "6210",
            "Duplicate Document Number Error",
            f"Duplicate Document Number Error : You must specify a different number. This number "
            f"has already been used. DocNumber={number} is assigned to TxnType=Invoice with "
            f"TxnId={taken[number]}",
            element="DocNumber",
        )
    return number


def _date(candidate: dict[str, Any], field: str, default: str) -> str:
    value = candidate.get(field) or default
    if not is_iso_date(value):
        raise invalid(f"{field} must be a date YYYY-MM-DD, got {value!r}", field)
    return str(value)
