"""Named lists: Customer, Item, Account (deleted by making them inactive, never removed)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .rules import EntityRules, currency_ref, resolve_ref, text_field, unique_name
from .wire import required

if TYPE_CHECKING:
    from .books import Books

# Ids the seeds get (Accounts and Items are created in this order on an empty file).
SERVICES_INCOME_ACCOUNT_ID = "1"
UNDEPOSITED_FUNDS_ACCOUNT_ID = "2"
ACCOUNTS_RECEIVABLE_ACCOUNT_ID = "3"  # where invoices and payments post (a fresh company has one)
SERVICES_ITEM_ID = "1"


class CustomerRules(EntityRules):
    def prepare(self, books: Books, candidate: dict[str, Any], current: dict | None) -> dict:
        name = candidate.get("DisplayName") or candidate.get("CompanyName")
        if not name:
            given = " ".join(
                str(candidate[k]) for k in ("GivenName", "FamilyName") if candidate.get(k)
            )
            name = given or None
        if not name:
            raise required("DisplayName")
        text_field(candidate, "CompanyName", 100)
        candidate["DisplayName"] = str(name)
        text_field(candidate, "DisplayName", 500)
        unique_name(books, "Customer", "DisplayName", candidate["DisplayName"], current)
        candidate["FullyQualifiedName"] = candidate["DisplayName"]
        candidate.setdefault("Active", True)
        candidate["CurrencyRef"] = currency_ref(candidate.get("CurrencyRef"))
        return candidate


class ItemRules(EntityRules):
    def seeds(self) -> list[dict[str, Any]]:
        return [{"Name": "Services", "Type": "Service"}]

    def prepare(self, books: Books, candidate: dict[str, Any], current: dict | None) -> dict:
        if not candidate.get("Name"):
            raise required("Name")
        unique_name(books, "Item", "Name", str(candidate["Name"]), current)
        candidate["FullyQualifiedName"] = candidate["Name"]
        candidate.setdefault("Type", "Service")
        candidate.setdefault("Active", True)
        income = candidate.get("IncomeAccountRef") or {"value": SERVICES_INCOME_ACCOUNT_ID}
        candidate["IncomeAccountRef"] = resolve_ref(books, "Account", income, "IncomeAccountRef")
        return candidate


class AccountRules(EntityRules):
    def seeds(self) -> list[dict[str, Any]]:
        return [
            {"Name": "Services", "AccountType": "Income", "AccountSubType": "ServiceFeeIncome"},
            {
                "Name": "Undeposited Funds",
                "AccountType": "Other Current Asset",
                "AccountSubType": "UndepositedFunds",
            },
            {
                "Name": "Accounts Receivable (A/R)",
                "AccountType": "Accounts Receivable",
                "AccountSubType": "AccountsReceivable",
            },
        ]

    def prepare(self, books: Books, candidate: dict[str, Any], current: dict | None) -> dict:
        if not candidate.get("Name"):
            raise required("Name")
        if not candidate.get("AccountType"):
            raise required("AccountType")
        unique_name(books, "Account", "Name", str(candidate["Name"]), current)
        candidate["FullyQualifiedName"] = candidate["Name"]
        candidate.setdefault("Active", True)
        candidate["CurrencyRef"] = currency_ref(candidate.get("CurrencyRef"))
        return candidate
