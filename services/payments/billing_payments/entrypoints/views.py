"""Response shapes of the payments API."""
from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from billing_shared.money import Money

from billing_shared.events.payments import PaymentSnapshot
from billing_shared.secrets import mask

from billing_payments.adapters.wallet_store import WalletMethod
from billing_payments.domain.invoices import PayableInvoice
from billing_payments.domain.settings import ProcessingSettings


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


class SettingsView(BaseModel):
    active: bool
    currency: str | None
    accept_payments_in: list[str]
    payment_types: dict[str, list[str]]
    public_key: str | None  # masked
    private_key: str | None  # masked
    refund_via_gateway: bool
    auto_cancel_unsettled: bool

    @classmethod
    def of(cls, s: ProcessingSettings) -> SettingsView:
        return cls(active=s.active, currency=s.currency, accept_payments_in=list(s.accept_payments_in),
                   payment_types={env: list(types) for env, types in s.payment_types.items()},
                   public_key=mask(s.public_key), private_key=mask(s.private_key),
                   refund_via_gateway=s.refund_via_gateway, auto_cancel_unsettled=s.auto_cancel_unsettled)


class KeysTestView(BaseModel):
    ok: bool
    reason: str | None


class WalletMethodView(BaseModel):
    method_id: str
    organization_id: str
    contact_id: str | None
    type: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None

    @classmethod
    def of(cls, m: WalletMethod) -> WalletMethodView:
        return cls(method_id=m.method_id, organization_id=m.organization_id, contact_id=m.contact_id, type=m.type,
                   brand=m.brand, last4=m.last4, exp_month=m.exp_month, exp_year=m.exp_year)


class WalletPage(BaseModel):
    items: list[WalletMethodView]
    next_cursor: str | None = None


class PaymentPage(BaseModel):
    items: list[PaymentSnapshot]
    next_cursor: str | None


class PaymentFormView(BaseModel):
    """What a payment page needs to take a new card or eCheck in the gateway's hosted fields."""

    active: bool
    environment: str
    currency: str | None
    payment_types: list[str]
    public_key: str | None  # the tokenization key: public by design, it only makes tokens
    collect_js_url: str
