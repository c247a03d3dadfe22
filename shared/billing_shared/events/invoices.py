"""`billing.invoices.v1`: sync's invoice snapshots (a full snapshot every time)."""
from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from billing_shared.money import Currency, NonNegativeMoney

from .envelope import Data, Event

InvoiceStatus = Literal["open", "paid", "voided"]


class InvoiceSnapshot(Data):
    invoice_id: str
    organization_id: str
    invoice_number: str | None
    status: InvoiceStatus
    currency: Currency
    total: NonNegativeMoney
    issued_on: date
    due_on: date | None
    paid_on: date | None
    pdf_url: str | None
    source_version: int


class InvoiceSynced(Event):
    TYPE: ClassVar[str] = "invoice.synced"
    event_type: Literal["invoice.synced"] = "invoice.synced"
    data: InvoiceSnapshot


class InvoiceVoided(Event):
    TYPE: ClassVar[str] = "invoice.voided"
    event_type: Literal["invoice.voided"] = "invoice.voided"
    data: InvoiceSnapshot
