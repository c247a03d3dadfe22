"""`billing.payments.v1`: full payment snapshots on every state change, and wallet events."""
from __future__ import annotations

from typing import ClassVar, Literal

from billing_shared.money import Currency, NonNegativeMoney

from .envelope import Data, Event, Instant

PaymentStatus = Literal["pending", "succeeded", "failed", "cancelled", "charged_back"]
# Beyond the contract's shape (an added field): how a cancel reached the gateway.
GatewayReversal = Literal["pending", "voided", "refunded", "none"]
Environment = Literal["autotask", "client_portal"]
MethodType = Literal["credit_card", "echeck"]


class PaymentMethodSummary(Data):
    type: MethodType
    brand: str | None = None
    last4: str | None = None


class Application(Data):
    invoice_id: str
    amount: NonNegativeMoney


class TransactionRow(Data):
    type: Literal["sale", "refund"]
    amount: NonNegativeMoney
    at: Instant
    transaction_id: str | None = None
    # Beyond the contract's shape: set on a refund that failed at settlement (it never reached the client;
    # its amount is unapplied again and no longer counts in refund_amount).
    failure_reason: str | None = None


class PaymentSnapshot(Data):
    payment_id: str
    transaction_id: str | None
    order_id: str
    organization_id: str
    contact_id: str | None
    environment: Environment
    method: PaymentMethodSummary
    currency: Currency
    status: PaymentStatus
    failure_reason: str | None = None
    sale_amount: NonNegativeMoney
    applied_amount: NonNegativeMoney
    unapplied_amount: NonNegativeMoney
    refund_amount: NonNegativeMoney
    original_amount: NonNegativeMoney
    # Beyond the contract's shape: for a cancel, what moved at the gateway (null: no cancel asked).
    gateway_reversal: GatewayReversal | None = None
    # Beyond the contract's shape: a payment the autopay scheduler made (its notices tell the client).
    origin: Literal["manual", "autopay"] = "manual"
    applications: list[Application] = []
    transactions: list[TransactionRow] = []


class PaymentMethodData(Data):
    method_id: str
    organization_id: str
    contact_id: str | None = None
    type: MethodType
    brand: str | None = None
    last4: str | None = None
    exp_month: int | None = None
    exp_year: int | None = None


class _PaymentEvent(Event):
    data: PaymentSnapshot


class PaymentSucceeded(_PaymentEvent):
    TYPE: ClassVar[str] = "payment.succeeded"
    event_type: Literal["payment.succeeded"] = "payment.succeeded"


class PaymentFailed(_PaymentEvent):
    TYPE: ClassVar[str] = "payment.failed"
    event_type: Literal["payment.failed"] = "payment.failed"


class PaymentUnapplied(_PaymentEvent):
    TYPE: ClassVar[str] = "payment.unapplied"
    event_type: Literal["payment.unapplied"] = "payment.unapplied"


class PaymentApplied(_PaymentEvent):
    TYPE: ClassVar[str] = "payment.applied"
    event_type: Literal["payment.applied"] = "payment.applied"


class PaymentRefunded(_PaymentEvent):
    TYPE: ClassVar[str] = "payment.refunded"
    event_type: Literal["payment.refunded"] = "payment.refunded"


class PaymentCancelled(_PaymentEvent):
    TYPE: ClassVar[str] = "payment.cancelled"
    event_type: Literal["payment.cancelled"] = "payment.cancelled"


class PaymentSettlementFailed(_PaymentEvent):
    TYPE: ClassVar[str] = "payment.settlement_failed"
    event_type: Literal["payment.settlement_failed"] = "payment.settlement_failed"


class PaymentRefundFailed(_PaymentEvent):
    """A refund failed at settlement: it never reached the client; its amount is unapplied again."""
    TYPE: ClassVar[str] = "payment.refund_failed"
    event_type: Literal["payment.refund_failed"] = "payment.refund_failed"


class PaymentChargedBack(_PaymentEvent):
    TYPE: ClassVar[str] = "payment.charged_back"
    event_type: Literal["payment.charged_back"] = "payment.charged_back"


class PaymentMethodAdded(Event):
    TYPE: ClassVar[str] = "payment_method.added"
    event_type: Literal["payment_method.added"] = "payment_method.added"
    data: PaymentMethodData


class InvoiceOverAppliedData(Data):
    """An invoice whose total (as sync now reports it) is below what our payments apply to it."""

    invoice_id: str
    organization_id: str
    invoice_number: str | None = None
    currency: Currency
    total: NonNegativeMoney  # the total as sync reports it now
    applied: NonNegativeMoney  # what the ledger applies to it
    over_by: NonNegativeMoney  # applied - total: money to move (unapply, refund) by hand
    source_version: int


class InvoiceOverApplied(Event):
    """Payments' staff alert (beyond the contract's event list): the invoice is shown with balance 0 and
    is not payable until a person settles the difference."""
    TYPE: ClassVar[str] = "invoice.over_applied"
    event_type: Literal["invoice.over_applied"] = "invoice.over_applied"
    data: InvoiceOverAppliedData
