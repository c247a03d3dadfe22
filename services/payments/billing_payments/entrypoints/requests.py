"""Request bodies of the payments API: unknown fields are refused."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


class PayRequest(Strict):
    invoice_id: Line = Field(min_length=1)
    amount: Money | None = Field(default=None, description="the whole balance when omitted")
    contact_id: Line | None = None
    payment_method: MethodChoice


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
