"""Autopay: payments charges an enrolled organization's invoices on schedule with a stored method.

Right before a charge payments asks sync, which holds the accounting connection, for the invoice's balance
in the books (`autopay.balance_check_requested` on `billing.payments.v1`); sync reads the accounting invoice,
publishes a fresh invoice snapshot when it changed, and answers `autopay.balance_checked` on
`billing.sync.v1`. Payments then charges or skips the attempt. `autopay.upcoming`, `.succeeded` and `.failed`
(on `billing.payments.v1`) are for notifications.
"""
from __future__ import annotations

from datetime import date
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from billing_shared.money import Currency, NonNegativeMoney

from .envelope import Data, Event, Ident, Instant
from .payments import PaymentMethodSummary

# Why an attempt was not charged (stored on the attempt, shown by the API and the portal).
SkipReason = Literal[
    "paid_elsewhere",  # the books show the invoice paid by other means
    "voided",  # voided in the books or here
    "over_maximum",  # the balance is above the enrollment's maximum per invoice
    "not_payable",  # not payable here (paid, not numbered, another payment in flight, refused by a rule)
    "method_removed",  # the enrolled method is no longer in the wallet
    "not_enrolled",  # the organization turned autopay off, or changed its rule, before the charge
]
SKIP_REASONS: tuple[str, ...] = SkipReason.__args__  # type: ignore[attr-defined]

Text = Annotated[str, Field(max_length=1000)]


class BalanceCheckRequestedData(Data):
    attempt_id: Ident
    invoice_id: Ident


class BalanceCheckedData(Data):
    attempt_id: Ident
    invoice_id: Ident
    # The invoice's balance in accounting as read now; None when accounting is not integrated or the invoice
    # is not linked to an accounting invoice (its balance is then payments' own).
    accounting_balance: NonNegativeMoney | None = None
    paid_elsewhere: bool = False
    voided: bool = False
    checked_at: Instant


class AutopayNoticeData(Data):
    """One attempt, as a notification tells it."""

    attempt_id: Ident
    attempt_number: int = Field(ge=1)
    organization_id: Ident
    invoice_id: Ident
    invoice_number: Ident | None = None
    currency: Currency
    amount: NonNegativeMoney  # the balance to charge (upcoming), or charged / tried
    charge_on: date  # the day the rule charges the invoice (upcoming), or the day of the attempt
    method: PaymentMethodSummary
    payment_id: Ident | None = None
    reason: Text | None = None  # the gateway's decline reason (failed)
    final: bool = False  # failed: no more retries follow
    next_attempt_on: date | None = None  # failed and not final: when the next try is


class AutopayBalanceCheckRequested(Event):
    TYPE: ClassVar[str] = "autopay.balance_check_requested"
    event_type: Literal["autopay.balance_check_requested"] = "autopay.balance_check_requested"
    data: BalanceCheckRequestedData


class AutopayBalanceChecked(Event):
    TYPE: ClassVar[str] = "autopay.balance_checked"
    event_type: Literal["autopay.balance_checked"] = "autopay.balance_checked"
    data: BalanceCheckedData


class AutopayUpcoming(Event):
    TYPE: ClassVar[str] = "autopay.upcoming"
    event_type: Literal["autopay.upcoming"] = "autopay.upcoming"
    data: AutopayNoticeData


class AutopaySucceeded(Event):
    TYPE: ClassVar[str] = "autopay.succeeded"
    event_type: Literal["autopay.succeeded"] = "autopay.succeeded"
    data: AutopayNoticeData


class AutopayFailed(Event):
    TYPE: ClassVar[str] = "autopay.failed"
    event_type: Literal["autopay.failed"] = "autopay.failed"
    data: AutopayNoticeData
