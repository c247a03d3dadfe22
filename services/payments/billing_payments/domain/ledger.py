"""The ledger of DOMAIN.md section 2: pure functions from a payment to its next state.

Every operation returns an `Outcome`: the new payment, how much each invoice's applied total moves,
the event type to publish, and money to refund at the gateway (when the settings say so).
The legal transitions of a payment are the one table below.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal

from billing_shared.money import ZERO

from .errors import PaymentError
from .invoices import PayableInvoice
from .payment import ApplicationEntry, Payment, Reversal, Status, TransactionRow

# Written on a cancel that moved no money at the gateway, for staff reading the payment.
NO_MONEY_MOVED = ("cancelled in the ledger only: the sale had already settled and refunds via the gateway are "
                  "off, so no money moved at the gateway; refund the client in the gateway by hand")

Action = Literal["approve", "decline", "unapply", "apply", "refund", "cancel", "settlement_failed",
                 "flag_settlement_failure", "charge_back", "refund_failed"]

TRANSITIONS: dict[tuple[Status, Action], Status] = {
    ("pending", "approve"): "succeeded",
    ("pending", "decline"): "failed",
    ("succeeded", "unapply"): "succeeded",
    ("succeeded", "apply"): "succeeded",
    ("succeeded", "refund"): "succeeded",
    ("succeeded", "cancel"): "cancelled",
    ("succeeded", "settlement_failed"): "cancelled",  # auto_cancel_unsettled on
    ("succeeded", "flag_settlement_failure"): "succeeded",  # auto_cancel_unsettled off
    ("succeeded", "charge_back"): "charged_back",
    ("succeeded", "refund_failed"): "succeeded",  # a refund failed at settlement: the money is unapplied again
}


def next_status(current: Status, action: Action) -> Status:
    try:
        return TRANSITIONS[(current, action)]
    except KeyError:
        raise PaymentError("payment_state_conflict", f"a {current} payment cannot be {_PAST[action]}",
                           status=current, action=action) from None


_PAST: dict[str, str] = {
    "approve": "approved", "decline": "declined", "unapply": "unapplied", "apply": "applied",
    "refund": "refunded", "cancel": "cancelled", "settlement_failed": "failed at settlement",
    "flag_settlement_failure": "flagged as failed at settlement", "charge_back": "charged back",
    "refund_failed": "told that a refund failed",
}


@dataclass(frozen=True)
class Outcome:
    payment: Payment
    event_type: str
    invoice_deltas: dict[str, Decimal] = field(default_factory=dict)
    refund_at_gateway: Decimal = ZERO


def approve(p: Payment, transaction_id: str, at: datetime) -> Outcome:
    """One sale for the whole amount, one application per invoice the payment was made for."""
    amount = p.original_amount
    planned = p.planned()
    paid = replace(
        p, status=next_status(p.status, "approve"), transaction_id=transaction_id, sale_amount=amount,
        entries=(*p.entries, *(ApplicationEntry(a.invoice_id, a.amount, "pay") for a in planned)),
        transactions=(*p.transactions, TransactionRow("sale", amount, at, transaction_id)),
    )
    return Outcome(paid, "payment.succeeded", {a.invoice_id: a.amount for a in planned})


def decline(p: Payment, reason: str, transaction_id: str | None = None) -> Outcome:
    failed = replace(p, status=next_status(p.status, "decline"), failure_reason=reason,
                     transaction_id=transaction_id or p.transaction_id)
    return Outcome(failed, "payment.failed")


def unapply_voided_invoice(p: Payment, invoice_id: str) -> Outcome | None:
    """Invoice voided: the sale happened, nothing is refunded; its application becomes unapplied."""
    amount = p.applications().get(invoice_id, ZERO)
    if amount == ZERO or p.status != "succeeded":
        return None
    moved = replace(
        p, status=next_status(p.status, "unapply"), unapplied_amount=p.unapplied_amount + amount,
        entries=(*p.entries, ApplicationEntry(invoice_id, -amount, "invoice_voided")),
    )
    return Outcome(moved, "payment.unapplied", {invoice_id: -amount})


def apply_to(p: Payment, target: PayableInvoice, at: datetime, *, keep_remainder: bool = False) -> Outcome:
    """Apply unapplied money to another invoice of the organization; refund the rest unless kept."""
    _require_unapplied(p)
    next_status(p.status, "apply")
    require_no_cancel_in_progress(p)
    if target.organization_id != p.organization_id:
        raise PaymentError("invalid_request", "the target invoice belongs to another organization",
                           invoice_id=target.invoice_id)
    require_payable(target)
    if target.currency != p.currency:
        raise PaymentError("currency_mismatch", f"the invoice is in {target.currency}, the payment in {p.currency}")
    balance = target.balance
    if balance > p.unapplied_amount:
        raise PaymentError("target_balance_exceeds_unapplied",
                           f"the invoice's balance {balance} exceeds the unapplied {p.unapplied_amount}",
                           balance=str(balance), unapplied=str(p.unapplied_amount))
    rest = p.unapplied_amount - balance
    refund = ZERO if keep_remainder else rest
    applied = replace(
        p, unapplied_amount=rest - refund, refund_amount=p.refund_amount + refund,
        entries=(*p.entries, ApplicationEntry(target.invoice_id, balance, "apply")),
        transactions=(*p.transactions, TransactionRow("refund", refund, at)) if refund else p.transactions,
    )
    return Outcome(applied, "payment.applied", {target.invoice_id: balance}, refund_at_gateway=refund)


def refund(p: Payment, at: datetime, amount: Decimal | None = None) -> Outcome:
    """Only unapplied money is refunded: all of it by default."""
    _require_unapplied(p)
    next_status(p.status, "refund")
    require_no_cancel_in_progress(p)
    amount = p.unapplied_amount if amount is None else amount
    if amount <= ZERO:
        raise PaymentError("invalid_request", "a refund amount must be more than 0.00")
    if amount > p.unapplied_amount:
        raise PaymentError("amount_exceeds_balance", f"only {p.unapplied_amount} is unapplied",
                           unapplied=str(p.unapplied_amount), amount=str(amount))
    refunded = replace(
        p, unapplied_amount=p.unapplied_amount - amount, refund_amount=p.refund_amount + amount,
        transactions=(*p.transactions, TransactionRow("refund", amount, at)),
    )
    return Outcome(refunded, "payment.refunded", refund_at_gateway=amount)


def request_cancel(p: Payment) -> Payment:
    """The intent to cancel, recorded before the gateway is asked to void or refund the sale. Nothing else
    changes yet: the sale stands until the gateway has answered."""
    next_status(p.status, "cancel")
    require_no_cancel_in_progress(p)
    return replace(p, gateway_reversal="pending")


def cancel(p: Payment, *, reason: str | None = None, settlement_failure: bool = False,
           reversal: Reversal | None = None) -> Outcome:
    """The transaction never settled (or its money went back): every amount shows 0.00 and every invoice
    gets its money back. The transaction id, original amount and rows are kept for audit. `reversal` says
    what moved at the gateway; when nothing did, the payment says so in its failure reason."""
    status = next_status(p.status, "settlement_failed" if settlement_failure else "cancel")
    if reversal == "none":
        reason = reason or NO_MONEY_MOVED
    taken_back = p.applications()
    cancelled = replace(
        p, status=status, failure_reason=reason or p.failure_reason, sale_amount=ZERO, unapplied_amount=ZERO,
        refund_amount=ZERO, gateway_reversal=reversal if reversal is not None else p.gateway_reversal,
        entries=(*p.entries, *(ApplicationEntry(i, -a, "cancelled") for i, a in taken_back.items())),
    )
    event = "payment.settlement_failed" if settlement_failure else "payment.cancelled"
    return Outcome(cancelled, event, {i: -a for i, a in taken_back.items()})


def refund_failed(p: Payment, transaction_id: str, reason: str) -> Outcome | None:
    """A refund failed at settlement: it never reached the client. Its row stays (marked with the reason),
    its amount leaves `refund` and is unapplied again, so sale = applied + unapplied + refund still holds
    and staff can refund it again or apply it. None when no live refund row has this transaction id."""
    index = next((n for n, t in enumerate(p.transactions)
                  if t.type == "refund" and t.transaction_id == transaction_id and t.failure_reason is None), None)
    if index is None:
        return None
    next_status(p.status, "refund_failed")
    row = p.transactions[index]
    rows = list(p.transactions)
    rows[index] = replace(row, failure_reason=reason)
    back = replace(p, refund_amount=p.refund_amount - row.amount, unapplied_amount=p.unapplied_amount + row.amount,
                   transactions=tuple(rows))
    return Outcome(back, "payment.refund_failed")


def settlement_failed(p: Payment, reason: str, *, auto_cancel: bool) -> Outcome:
    if auto_cancel:
        return cancel(p, reason=reason, settlement_failure=True)
    flagged = replace(p, status=next_status(p.status, "flag_settlement_failure"), failure_reason=reason)
    return Outcome(flagged, "payment.settlement_failed")


def charge_back(p: Payment, reason: str) -> Outcome:
    """Like a cancel for the invoices (they reopen), but the amounts and rows stay as they were."""
    charged = replace(p, status=next_status(p.status, "charge_back"), failure_reason=reason)
    return Outcome(charged, "payment.charged_back", {i: -a for i, a in p.applications().items()})


def require_no_cancel_in_progress(p: Payment) -> None:
    if p.gateway_reversal == "pending":
        raise PaymentError("payment_in_progress", "a cancel of this payment is in progress", payment_id=p.payment_id)


def _require_unapplied(p: Payment) -> None:
    if p.unapplied_amount <= ZERO:
        raise PaymentError("nothing_unapplied", "this payment has no unapplied money", payment_id=p.payment_id)


def require_payable(invoice: PayableInvoice) -> None:
    if invoice.status == "paid":
        raise PaymentError("invoice_already_paid", "the invoice is already paid", invoice_id=invoice.invoice_id)
    if not invoice.payable:
        why = "it is voided" if invoice.status == "voided" else "it has no accounting number yet"
        raise PaymentError("invoice_not_payable", f"the invoice cannot be paid: {why}", invoice_id=invoice.invoice_id)

