"""`upstream.invoices.v1`: invoices published by upstream systems (PSA relays, other billing)."""
from __future__ import annotations

from datetime import date
from typing import ClassVar, Literal

from pydantic import Field

from billing_shared.money import Currency, Money, Quantity

from .envelope import Data, Event

BIGINT_MAX = 2**63 - 1


class UpstreamOrganization(Data):
    external_id: str = Field(min_length=1)
    name: str


class InvoiceLine(Data):
    description: str
    quantity: Quantity
    unit_price: Money
    amount: Money


class InvoiceUpsertedData(Data):
    source: str = Field(min_length=1)
    external_id: str = Field(min_length=1)
    version: int = Field(ge=0, le=BIGINT_MAX)  # stored in a bigint
    organization: UpstreamOrganization
    invoice_number: str | None = None
    issued_on: date
    due_on: date | None = None
    currency: Currency
    total: Money = Field(ge=0)
    paid_on: date | None = None
    pdf_url: str | None = None
    lines: list[InvoiceLine] = []


class UpstreamInvoiceVoidedData(Data):
    source: str = Field(min_length=1)
    external_id: str = Field(min_length=1)
    version: int = Field(ge=0, le=BIGINT_MAX)  # stored in a bigint


class InvoiceUpserted(Event):
    TYPE: ClassVar[str] = "invoice.upserted"
    event_type: Literal["invoice.upserted"] = "invoice.upserted"
    data: InvoiceUpsertedData


class UpstreamInvoiceVoided(Event):
    TYPE: ClassVar[str] = "invoice.voided"
    event_type: Literal["invoice.voided"] = "invoice.voided"
    data: UpstreamInvoiceVoidedData
