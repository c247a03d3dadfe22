"""Autopay's rules, free of I/O: which invoice is charged on which day, whether an attempt is charged or
skipped (and why), and when a declined attempt is tried again.

An invoice is charged under a rule on its charge day (its due date, or N days after it was issued) or on
the first scheduler pass after it, but only when that day is on or after the day the organization
enrolled: turning autopay on never charges invoices that were already due before it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from billing_shared.money import ZERO

from .invoices import PayableInvoice

RuleKind = Literal["on_due_date", "days_after_issue"]
MAX_DAYS_AFTER_ISSUE = 90


@dataclass(frozen=True)
class Rule:
    kind: RuleKind
    days: int | None = None  # days_after_issue only

    def __post_init__(self) -> None:
        if (self.kind == "days_after_issue") != (self.days is not None):
            raise ValueError("days goes with days_after_issue, and only with it")
        if self.days is not None and not 0 <= self.days <= MAX_DAYS_AFTER_ISSUE:
            raise ValueError(f"days must be 0 to {MAX_DAYS_AFTER_ISSUE}")

    @property
    def key(self) -> str:
        """Names the rule in attempt rows and Idempotency-Keys: the same invoice under the same rule is the
        same charge."""
        return self.kind if self.days is None else f"{self.kind}:{self.days}"

    def charge_day(self, issued_on: date, due_on: date | None) -> date:
        if self.kind == "days_after_issue":
            assert self.days is not None
            return issued_on + timedelta(days=self.days)
        return due_on or issued_on  # an invoice without a due date is due when issued


@dataclass(frozen=True)
class Enrollment:
    organization_id: str
    method_id: str
    rule: Rule
    max_amount: Decimal
    currency: str
    contact_id: str
    environment: str
    enrolled_by: str
    enrolled_at: datetime


def chargeable(invoice: PayableInvoice) -> bool:
    """Open, numbered and owing: worth a balance check (the check decides whether it is charged)."""
    return invoice.payable and invoice.balance > ZERO


def is_due(enrollment: Enrollment, invoice: PayableInvoice, today: date) -> bool:
    day = enrollment.rule.charge_day(invoice.issued_on, invoice.due_on)
    return chargeable(invoice) and enrollment.enrolled_at.date() <= day <= today


def is_upcoming(enrollment: Enrollment, invoice: PayableInvoice, today: date, notice_days: int) -> bool:
    """Within `notice_days` before its charge day (a notice is sent once, on the first day in that window)."""
    day = enrollment.rule.charge_day(invoice.issued_on, invoice.due_on)
    return chargeable(invoice) and enrollment.enrolled_at.date() <= day and day - timedelta(days=notice_days) \
        <= today < day


@dataclass(frozen=True)
class BalanceCheck:
    """What accounting says right before the charge (sync's answer)."""

    accounting_balance: Decimal | None  # None: accounting not integrated, or the invoice not linked there
    paid_elsewhere: bool
    voided: bool


@dataclass(frozen=True)
class AttemptPlan:
    """What the attempt was started with."""

    rule_key: str
    method_id: str
    max_amount: Decimal


@dataclass(frozen=True)
class Decision:
    amount: Decimal | None = None  # charge this much
    skip_reason: str | None = None
    detail: str | None = None

    @property
    def charge(self) -> bool:
        return self.amount is not None


def decide(plan: AttemptPlan, enrollment: Enrollment | None, method_present: bool, invoice: PayableInvoice | None,
           check: BalanceCheck) -> Decision:
    """Charge or skip, in this order: the enrollment still stands as the attempt was planned, its method is
    still stored, the books do not show the invoice voided or paid, it is payable here, and the balance to
    charge (the lower of ours and the books') is within the maximum."""
    if enrollment is None or enrollment.rule.key != plan.rule_key or enrollment.method_id != plan.method_id:
        return Decision(skip_reason="not_enrolled", detail="autopay was turned off or changed before the charge")
    if not method_present:
        return Decision(skip_reason="method_removed", detail="the enrolled payment method was removed")
    if check.voided or (invoice is not None and invoice.status == "voided"):
        return Decision(skip_reason="voided", detail="the invoice is voided")
    # The books at 0 while our ledger still owes: paid there by other means (our own payments show here first).
    books_paid = check.accounting_balance is not None and check.accounting_balance <= ZERO \
        and (invoice is None or invoice.balance > ZERO)
    if check.paid_elsewhere or books_paid or (invoice is not None and invoice.paid_elsewhere):
        return Decision(skip_reason="paid_elsewhere", detail="accounting shows the invoice paid by other means")
    if invoice is None or not chargeable(invoice) or invoice.in_flight_payment_id is not None:
        return Decision(skip_reason="not_payable", detail="the invoice is not payable now")
    amount = invoice.balance
    if check.accounting_balance is not None:
        amount = min(amount, check.accounting_balance)  # partly paid elsewhere: only what is still owed
    if amount > enrollment.max_amount:
        return Decision(skip_reason="over_maximum",
                        detail=f"the balance {amount} is above the maximum {enrollment.max_amount}")
    return Decision(amount=amount)


def next_retry(attempt_number: int, retry_days: tuple[float, ...], now: datetime) -> datetime | None:
    """When a declined attempt is tried again: `retry_days[n-1]` days after attempt n fails; None when the
    schedule is used up (the attempt gives up)."""
    if attempt_number > len(retry_days):
        return None
    return now + timedelta(days=retry_days[attempt_number - 1])


def idempotency_key(invoice_id: str, rule_key: str, attempt_number: int) -> str:
    """The payment's Idempotency-Key: the same attempt, on any replica and after any crash, finds the same
    payment (or pays afresh only when nothing was charged under it)."""
    return f"autopay:{invoice_id}:{rule_key}:{attempt_number}"
