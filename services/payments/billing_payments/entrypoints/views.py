"""Response shapes of the payments API."""
from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from billing_shared.money import Money

from billing_payments.domain.invoices import PayableInvoice


class InvoiceView(BaseModel):
    """The `billing.invoices.v1` fields plus `balance` and `payable`."""

    invoice_id: str
    organization_id: str
    invoice_number: str | None
    status: str
    currency: str
    total: Money
    issued_on: date
    due_on: date | None
    paid_on: date | None
    pdf_url: str | None
    source_version: int
    balance: Money
    payable: bool

    @classmethod
    def of(cls, invoice: PayableInvoice) -> InvoiceView:
        return cls(
            invoice_id=invoice.invoice_id, organization_id=invoice.organization_id,
            invoice_number=invoice.invoice_number, status=invoice.status, currency=invoice.currency,
            total=invoice.total, issued_on=invoice.issued_on, due_on=invoice.due_on, paid_on=invoice.paid_on,
            pdf_url=invoice.pdf_url, source_version=invoice.source_version, balance=invoice.balance,
            payable=invoice.payable,
        )


class InvoicePage(BaseModel):
    items: list[InvoiceView]
    next_cursor: str | None
