"""PSA (Autotask) rows as sync mirrors them: typed records out of the API's JSON, no I/O.

Ids are `autotask:<id>` (organizations: `autotask:<companyID>`). Amounts arrive as JSON doubles and
become 2-place Decimals through their decimal text, never through float arithmetic.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billing_shared.ids import make_id
from billing_shared.money import CENT

SOURCE = "autotask"


def psa_id(external_id: object) -> str:
    return make_id(SOURCE, external_id)


def parse_time(value: Any) -> datetime | None:
    """`2026-11-01T10:00:00.000Z` (UTC, as the API sends every time) -> aware datetime."""
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def parse_date(value: Any) -> date | None:
    moment = parse_time(value)
    return moment.date() if moment else None


def parse_amount(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0)).quantize(CENT)


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


@dataclass(frozen=True)
class Organization:
    organization_id: str
    external_id: str
    name: str
    active: bool
    changed_at: datetime | None


@dataclass(frozen=True)
class Contact:
    contact_id: str
    organization_id: str
    external_id: str
    first_name: str | None
    last_name: str | None
    email: str | None
    active: bool
    primary: bool
    billing: bool
    changed_at: datetime | None

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or self.email or self.contact_id


@dataclass(frozen=True)
class Contract:
    contract_id: str
    organization_id: str
    name: str | None
    number: str | None
    status: int | None
    start_date: date | None
    end_date: date | None
    changed_at: datetime | None


@dataclass(frozen=True)
class Ticket:
    ticket_id: str
    organization_id: str
    number: str | None
    title: str | None
    status: int | None
    priority: int | None
    changed_at: datetime | None


@dataclass(frozen=True)
class Opportunity:
    opportunity_id: str
    organization_id: str
    title: str
    status: int | None
    amount: Decimal | None
    user_fields: tuple[dict[str, Any], ...]
    changed_at: datetime | None


@dataclass(frozen=True)
class PsaInvoice:
    invoice_id: str
    external_id: int
    organization_id: str
    invoice_number: str | None
    total: Decimal
    issued_on: date
    due_on: date | None
    voided: bool
    voided_at: datetime | None
    paid_on: date | None


def organization(row: dict[str, Any]) -> Organization:
    return Organization(
        organization_id=psa_id(row["id"]), external_id=str(row["id"]),
        name=_text(row.get("companyName")) or f"Company {row['id']}",
        active=bool(row.get("isActive", True)), changed_at=parse_time(row.get("lastActivityDate")),
    )


def contact(row: dict[str, Any]) -> Contact:
    return Contact(
        contact_id=psa_id(row["id"]), organization_id=psa_id(row.get("companyID")), external_id=str(row["id"]),
        first_name=_text(row.get("firstName")), last_name=_text(row.get("lastName")),
        email=_text(row.get("emailAddress")),
        active=row.get("isActive", 1) not in (0, False, None),  # an int32 (1/0) on Contacts [C]
        primary=bool(row.get("primaryContact")), billing=bool(row.get("billingContact")),
        changed_at=parse_time(row.get("lastModifiedDate")),
    )


def contract(row: dict[str, Any]) -> Contract:
    return Contract(
        contract_id=psa_id(row["id"]), organization_id=psa_id(row.get("companyID")),
        name=_text(row.get("contractName")), number=_text(row.get("contractNumber")), status=row.get("status"),
        start_date=parse_date(row.get("startDate")), end_date=parse_date(row.get("endDate")),
        changed_at=parse_time(row.get("lastModifiedDateTime")),
    )


def ticket(row: dict[str, Any]) -> Ticket:
    return Ticket(
        ticket_id=psa_id(row["id"]), organization_id=psa_id(row.get("companyID")),
        number=_text(row.get("ticketNumber")), title=_text(row.get("title")), status=row.get("status"),
        priority=row.get("priority"), changed_at=parse_time(row.get("lastActivityDate")),
    )


def opportunity(row: dict[str, Any]) -> Opportunity:
    amount = row.get("amount")
    return Opportunity(
        opportunity_id=psa_id(row["id"]), organization_id=psa_id(row.get("companyID")),
        title=_text(row.get("title")) or f"Opportunity {row['id']}", status=row.get("status"),
        amount=parse_amount(amount) if amount is not None else None,
        user_fields=tuple(dict(u) for u in row.get("userDefinedFields") or ()),
        changed_at=parse_time(row.get("lastActivity")),
    )


def invoice(row: dict[str, Any]) -> PsaInvoice:
    issued = parse_date(row.get("invoiceDateTime")) or parse_date(row.get("createDateTime"))
    if issued is None:
        raise ValueError(f"Autotask invoice {row.get('id')} has no invoiceDateTime")
    return PsaInvoice(
        invoice_id=psa_id(row["id"]), external_id=int(row["id"]), organization_id=psa_id(row.get("companyID")),
        invoice_number=_text(row.get("invoiceNumber")), total=parse_amount(row.get("invoiceTotal")),
        issued_on=issued, due_on=parse_date(row.get("dueDate")), voided=bool(row.get("isVoided")),
        voided_at=parse_time(row.get("voidedDate")), paid_on=parse_date(row.get("paidDate")),
    )


def invoice_line(row: dict[str, Any]) -> dict[str, str]:
    """A BillingItems row as an upstream-shaped invoice line (decimal strings)."""
    amount = parse_amount(row.get("extendedPrice") if row.get("extendedPrice") is not None else row.get("totalAmount"))
    quantity = Decimal(str(row.get("quantity") if row.get("quantity") is not None else 1))
    rate = row.get("rate")
    unit_price = parse_amount(rate) if rate is not None else amount
    return {"description": _text(row.get("description")) or _text(row.get("itemName")) or "Services",
            "quantity": format(quantity.normalize(), "f"), "unit_price": str(unit_price), "amount": str(amount)}
