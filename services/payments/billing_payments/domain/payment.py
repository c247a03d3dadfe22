"""The payment aggregate. Corrections are new rows, never edits: an application entry is positive when
money is applied to an invoice and negative when it is taken back, so every balance is a sum."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

from billing_shared.events.payments import Application, PaymentMethodSummary, PaymentSnapshot
from billing_shared.events.payments import TransactionRow as TransactionRowData
from billing_shared.money import ZERO

Status = Literal["pending", "succeeded", "failed", "cancelled", "charged_back"]
EntryReason = Literal["pay", "apply", "invoice_voided", "cancelled"]
# How a cancel reached the gateway: asked and not yet confirmed, the unsettled sale voided, the settled
# sale refunded, or nothing moved there (settled, and refund_via_gateway off: refund it by hand).
Reversal = Literal["pending", "voided", "refunded", "none"]


@dataclass(frozen=True)
class ApplicationEntry:
    invoice_id: str
    amount: Decimal
    reason: EntryReason


@dataclass(frozen=True)
class TransactionRow:
    type: Literal["sale", "refund"]
    amount: Decimal
    at: datetime
    transaction_id: str | None = None
    failure_reason: str | None = None  # a refund that failed at settlement: it never reached the client


@dataclass(frozen=True)
class Allocation:
    """What a pending payment will apply to one invoice once its sale is approved."""

    invoice_id: str
    amount: Decimal


@dataclass(frozen=True)
class Method:
    type: Literal["credit_card", "echeck"]
    brand: str | None = None
    last4: str | None = None


@dataclass(frozen=True)
class Payment:
    payment_id: str
    invoice_id: str  # the invoice it was made for (paying several: the first of them)
    organization_id: str
    contact_id: str | None
    environment: Literal["autotask", "client_portal"]
    method: Method
    currency: str
    original_amount: Decimal
    created_at: datetime
    status: Status = "pending"
    failure_reason: str | None = None
    transaction_id: str | None = None
    sale_amount: Decimal = ZERO
    unapplied_amount: Decimal = ZERO
    refund_amount: Decimal = ZERO
    entries: tuple[ApplicationEntry, ...] = ()
    transactions: tuple[TransactionRow, ...] = ()
    gateway_reversal: Reversal | None = None
    version: int = 0
    # Paying several invoices in one sale: the amount for each, in the request's order. Empty for a
    # payment of one invoice, which applies its whole original amount to `invoice_id`.
    allocations: tuple[Allocation, ...] = ()
    origin: Literal["manual", "autopay"] = "manual"  # a person's payment, or the autopay scheduler's

    @property
    def order_id(self) -> str:
        """The gateway order id is our payment id: how an unknown outcome is found again."""
        return self.payment_id

    def planned(self) -> tuple[Allocation, ...]:
        """The invoices this payment was made for, with the amount each gets when the sale is approved."""
        return self.allocations or (Allocation(self.invoice_id, self.original_amount),)

    def applications(self) -> dict[str, Decimal]:
        """Live applications per invoice, in the order they were first made."""
        totals: dict[str, Decimal] = {}
        for entry in self.entries:
            totals[entry.invoice_id] = totals.get(entry.invoice_id, ZERO) + entry.amount
        return {invoice: amount for invoice, amount in totals.items() if amount != ZERO}

    @property
    def applied_amount(self) -> Decimal:
        return sum(self.applications().values(), ZERO)

    @property
    def counts_on_invoices(self) -> bool:
        """Whether its applications reduce invoice balances (a charged-back payment keeps its amounts
        for audit, but its invoices reopen)."""
        return self.status == "succeeded"

    def snapshot(self) -> PaymentSnapshot:
        return PaymentSnapshot(
            payment_id=self.payment_id, transaction_id=self.transaction_id, order_id=self.order_id,
            organization_id=self.organization_id, contact_id=self.contact_id, environment=self.environment,
            method=PaymentMethodSummary(type=self.method.type, brand=self.method.brand, last4=self.method.last4),
            currency=self.currency,  # type: ignore[arg-type]
            status=self.status, failure_reason=self.failure_reason,
            sale_amount=self.sale_amount, applied_amount=self.applied_amount,
            unapplied_amount=self.unapplied_amount, refund_amount=self.refund_amount,
            original_amount=self.original_amount, gateway_reversal=self.gateway_reversal, origin=self.origin,
            applications=[Application(invoice_id=i, amount=a) for i, a in self.applications().items()],
            transactions=[TransactionRowData(type=t.type, amount=t.amount, at=t.at, transaction_id=t.transaction_id,
                                             failure_reason=t.failure_reason)
                          for t in self.transactions],
        )
