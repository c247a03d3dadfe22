"""Templates of the payment notifications (no I/O)."""
from __future__ import annotations

from decimal import Decimal

from billing_shared.events.payments import PaymentSnapshot
from billing_shared.money import ZERO

from .parts import Context, Parts, amount, method_label


def _method(p: PaymentSnapshot) -> str:
    return method_label(p.method.type, p.method.brand, p.method.last4)


def _invoices(p: PaymentSnapshot, ctx: Context) -> str:
    if not p.applications:
        return "none"
    return "; ".join(f"{ctx.invoice(a.invoice_id)} ({amount(a.amount, p.currency)})" for a in p.applications)


def _first_invoice(p: PaymentSnapshot, ctx: Context) -> str:
    return f" for {ctx.invoice(p.applications[0].invoice_id)}" if p.applications else ""


def _payment_facts(p: PaymentSnapshot, ctx: Context, amount_label: str, value: Decimal) -> list[tuple[str, str]]:
    return [
        ("Organization", ctx.who),
        (amount_label, amount(value, p.currency)),
        ("Payment method", _method(p)),
        ("Invoices", _invoices(p, ctx)),
        ("Transaction ID", p.transaction_id or "none"),
        ("Payment ID", p.payment_id),
    ]


def payment_succeeded(p: PaymentSnapshot, ctx: Context) -> Parts:
    total = amount(p.sale_amount, p.currency)
    return Parts(
        subject=f"Payment received: {total}{_first_invoice(p, ctx)}",
        intro=[f"We received your payment of {total} by {_method(p)}."],
        title=f"Payment received from {ctx.who}: {total}{_first_invoice(p, ctx)}",
        summary=f"{ctx.who} paid {total} by {_method(p)}.",
        facts=_payment_facts(p, ctx, "Amount", p.sale_amount),
    )


def payment_failed(p: PaymentSnapshot, ctx: Context) -> Parts:
    total = amount(p.original_amount, p.currency)
    reason = p.failure_reason or "the payment was declined"
    return Parts(
        subject=f"Payment not completed: {total}{_first_invoice(p, ctx)}",
        intro=[f"Your payment of {total} by {_method(p)} did not go through: {reason}.",
               "Nothing was charged. You can try again with another payment method."],
        title=f"Payment failed for {ctx.who}: {total}{_first_invoice(p, ctx)}",
        summary=f"A payment of {total} by {ctx.who} failed: {reason}.",
        facts=[*_payment_facts(p, ctx, "Amount", p.original_amount), ("Reason", reason)],
    )


def payment_refunded(p: PaymentSnapshot, ctx: Context) -> Parts:
    refunds = [t for t in p.transactions if t.type == "refund"]
    refunded = refunds[-1].amount if refunds else p.refund_amount
    total = amount(refunded, p.currency)
    return Parts(
        subject=f"Refund of {total} on your payment of {amount(p.sale_amount, p.currency)}",
        intro=[f"We refunded {total} of your payment of {amount(p.sale_amount, p.currency)} "
               f"by {_method(p)}."],
        title=f"Refund recorded for {ctx.who}: {total}",
        summary=f"{total} of a payment by {ctx.who} was refunded.",
        facts=[*_payment_facts(p, ctx, "Refunded now", refunded),
               ("Refunded in total", amount(p.refund_amount, p.currency)),
               ("Refund transaction ID", (refunds[-1].transaction_id if refunds else None) or "none")],
    )


def payment_cancelled(p: PaymentSnapshot, ctx: Context) -> Parts:
    total = amount(p.original_amount, p.currency)
    return Parts(
        subject=f"Payment cancelled: {total}",
        intro=[f"Your payment of {total} by {_method(p)} was cancelled before it settled.",
               "No money was taken; the invoices it paid are open again."],
        title=f"Payment cancelled for {ctx.who}: {total}",
        summary=f"A payment of {total} by {ctx.who} was cancelled; its invoices are open again.",
        facts=_payment_facts(p, ctx, "Original amount", p.original_amount),
    )


def payment_charged_back(p: PaymentSnapshot, ctx: Context) -> Parts:
    total = amount(p.original_amount, p.currency)
    return Parts(
        subject=f"Chargeback on your payment of {total}",
        intro=[f"Your bank reported a chargeback on your payment of {total} by {_method(p)}.",
               "The invoices it paid are open again."],
        title=f"Chargeback from {ctx.who}: {total}",
        summary=f"The gateway reported a chargeback on a payment of {total} by {ctx.who}; "
                "its invoices are open again.",
        facts=_payment_facts(p, ctx, "Original amount", p.original_amount),
    )


def payment_settlement_failed(p: PaymentSnapshot, ctx: Context) -> Parts:
    """With `auto_cancel_unsettled` on the payment arrives cancelled and its invoices are open
    again; with it off the payment stays `succeeded` (with the failure reason) and its invoices
    stay paid until staff decide. The snapshot's status says which happened."""
    total = amount(p.original_amount, p.currency)
    reason = p.failure_reason or "the bank returned the payment"
    if p.status == "cancelled":
        consequence = ["It has been cancelled and the invoices it paid are open again."]
        summary = f"A payment of {total} by {ctx.who} failed to settle and was cancelled: {reason}."
    elif p.status == "succeeded":
        consequence = ["It has not been cancelled: the invoices it paid stay marked as paid for now, "
                       "and we will contact you about settling it."]
        summary = (f"A payment of {total} by {ctx.who} failed to settle: {reason}. It was not cancelled "
                   "(automatic cancellation of unsettled payments is off): it still counts as succeeded "
                   "and its invoices stay paid. Decide whether to cancel it or collect the money otherwise.")
    else:
        consequence = [f"The payment is now {p.status}."]
        summary = f"A payment of {total} by {ctx.who} failed to settle: {reason}. It is now {p.status}."
    paid_out = sum((t.amount for t in p.transactions
                    if t.type == "refund" and t.transaction_id and t.failure_reason is None), ZERO)
    if paid_out:  # an eCheck returned after part of it was refunded: the refund went out, the money never came
        summary += (f" Before it failed, {amount(paid_out, p.currency)} of it had been refunded at the gateway:"
                    " that money went to the client although the payment never arrived. Recover it from the client"
                    " or write it off.")
    return Parts(
        subject=f"Payment could not be settled: {total}",
        intro=[f"Your payment of {total} by {_method(p)} could not be settled: {reason}.", *consequence],
        title=f"Settlement failed for {ctx.who}: {total} ({reason})",
        summary=summary,
        facts=[*_payment_facts(p, ctx, "Original amount", p.original_amount), ("Reason", reason)],
    )


def payment_unapplied(p: PaymentSnapshot, ctx: Context) -> Parts:
    total = amount(p.unapplied_amount, p.currency)
    return Parts(
        subject=f"{total} of your payment is now unapplied",
        intro=[f"An invoice your payment paid was voided, so {total} of it is now unapplied.",
               "We will apply it to another invoice or refund it."],
        title=f"Unapplied money for {ctx.who}: {total} after an invoice void",
        summary=f"An invoice was voided: {total} of a payment by {ctx.who} is unapplied. "
                "Apply it to another invoice or refund it.",
        facts=[*_payment_facts(p, ctx, "Sale amount", p.sale_amount),
               ("Unapplied", total)],
    )


def payment_refund_failed(p: PaymentSnapshot, ctx: Context) -> Parts:
    """For staff: a refund failed at settlement, so the client never got it; the ledger has taken it back
    (its amount is unapplied again) and a person decides whether to refund again or apply it."""
    failed = [t for t in p.transactions if t.type == "refund" and t.failure_reason]
    row = failed[-1] if failed else None
    total = amount(row.amount if row else p.unapplied_amount, p.currency)
    reason = (row.failure_reason if row else None) or "the refund failed at settlement"
    return Parts(
        subject=f"Refund not completed for {ctx.who}: {total}",
        intro=[f"A refund of {total} to {ctx.who} failed at settlement ({reason}): the client never received it.",
               f"The payment shows it as unapplied again ({amount(p.unapplied_amount, p.currency)} unapplied); "
               "refund it again or apply it to an invoice."],
        title=f"Refund failed for {ctx.who}: {total} ({reason})",
        summary=f"A refund of {total} to {ctx.who} failed at settlement: {reason}. The client did not get the "
                "money; it is unapplied on the payment again. Refund it again or apply it.",
        facts=[*_payment_facts(p, ctx, "Refund amount", row.amount if row else p.unapplied_amount),
               ("Refund transaction ID", (row.transaction_id if row else None) or "none"), ("Reason", reason),
               ("Unapplied now", amount(p.unapplied_amount, p.currency))],
    )
