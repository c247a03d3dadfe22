"""The pieces every template is made of, and the helpers they share (no I/O)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from billing_shared.money import format_money


@dataclass(frozen=True)
class Context:
    """What the directory and the invoice projection know when the notification is recorded."""

    organization_id: str
    organization_name: str | None = None
    invoice_numbers: Mapping[str, str] = field(default_factory=dict)

    @property
    def who(self) -> str:
        return self.organization_name or self.organization_id

    def invoice(self, invoice_id: str) -> str:
        return f"invoice {self.invoice_numbers.get(invoice_id) or invoice_id}"


@dataclass(frozen=True)
class Parts:
    subject: str
    intro: list[str]  # the email's opening, in the reader's voice
    title: str
    summary: str  # the ticket's first line, for staff
    facts: list[tuple[str, str]]


INTEGRATIONS = {"autotask": "Autotask", "quickbooks": "QuickBooks Online"}


def amount(value: Decimal, currency: str) -> str:
    return f"{format_money(value)} {currency}"


def method_label(kind: str, brand: str | None, last4: str | None) -> str:
    name = "eCheck account" if kind == "echeck" else (brand or "card").title()
    return f"{name} ending {last4}" if last4 else name


def when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"
