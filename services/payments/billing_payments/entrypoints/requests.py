"""Request bodies of the payments API: unknown fields are refused."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from billing_shared.money import Money
from billing_shared.web.fields import Line

Environment = Literal["autotask", "client_portal"]
MethodType = Literal["credit_card", "echeck"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MethodChoice(Strict):
    method_id: Line | None = None
    token: Line | None = None
    save_to_wallet: bool = False

    @model_validator(mode="after")
    def _one_of(self) -> MethodChoice:
        if (self.method_id is None) == (self.token is None):
            raise ValueError("give either method_id (a stored method) or token (from the gateway), not both")
        if self.method_id and self.save_to_wallet:
            raise ValueError("save_to_wallet goes with a token")
        return self


MAX_INVOICES_PER_PAYMENT = 50


class InvoiceToPay(Strict):
    invoice_id: Line = Field(min_length=1)
    amount: Money | None = Field(default=None, description="the invoice's whole balance when omitted")


class PayRequest(Strict):
    """One invoice (`invoice_id`, `amount`) or several in one sale (`invoices`), never both."""

    invoice_id: Line | None = Field(default=None, min_length=1)
    amount: Money | None = Field(default=None, description="the whole balance when omitted")
    invoices: list[InvoiceToPay] | None = Field(default=None, min_length=1, max_length=MAX_INVOICES_PER_PAYMENT)
    contact_id: Line | None = None
    payment_method: MethodChoice

    @field_validator("invoices")
    @classmethod
    def _distinct(cls, invoices: list[InvoiceToPay] | None) -> list[InvoiceToPay] | None:
        ids = [i.invoice_id for i in invoices or ()]
        if len(set(ids)) != len(ids):
            raise ValueError("must name each invoice once")
        return invoices

    @model_validator(mode="after")
    def _one_form(self) -> PayRequest:
        if (self.invoice_id is None) == (self.invoices is None):
            raise ValueError("give either invoice_id (one invoice) or invoices (several in one payment), not both")
        if self.invoices is not None and self.amount is not None:
            raise ValueError("with invoices, give each invoice's amount in its entry, not amount")
        return self


class ApplyRequest(Strict):
    invoice_id: Line = Field(min_length=1)
    keep_remainder: bool = False


class RefundRequest(Strict):
    amount: Money | None = Field(default=None, description="all the unapplied money when omitted")


class SettingsRequest(Strict):
    """PUT: fields left out keep their value; keys are write-only."""

    active: bool | None = None
    currency: Line | None = None
    accept_payments_in: list[Environment] | None = None
    payment_types: dict[Environment, list[MethodType]] | None = None
    public_key: Line | None = Field(default=None, min_length=1)
    private_key: Line | None = Field(default=None, min_length=1)
    refund_via_gateway: bool | None = None
    auto_cancel_unsettled: bool | None = None


class WalletAddRequest(Strict):
    token: Line = Field(min_length=1)
    contact_id: Line | None = None
