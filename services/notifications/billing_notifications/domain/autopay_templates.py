"""Templates of the autopay notifications: a charge coming, a charge made, a charge declined (no I/O)."""
from __future__ import annotations

from billing_shared.events.autopay import AutopayNoticeData

from .parts import Context, Parts, amount, method_label


def _method(n: AutopayNoticeData) -> str:
    return method_label(n.method.type, n.method.brand, n.method.last4)


def _number(n: AutopayNoticeData, ctx: Context) -> str:
    # The event carries the number payments knew; the projection's number is the fallback.
    return n.invoice_number or ctx.invoice_numbers.get(n.invoice_id) or n.invoice_id


def _invoice(n: AutopayNoticeData, ctx: Context) -> str:
    return f"invoice {_number(n, ctx)}"


def _facts(n: AutopayNoticeData, ctx: Context, day_label: str) -> list[tuple[str, str]]:
    facts = [("Organization", ctx.who), ("Invoice", _number(n, ctx)),
             ("Amount", amount(n.amount, n.currency)), ("Payment method", _method(n)),
             (day_label, n.charge_on.isoformat())]
    if n.payment_id:
        facts.append(("Payment ID", n.payment_id))
    return facts


def autopay_upcoming(n: AutopayNoticeData, ctx: Context) -> Parts:
    total, invoice, method = amount(n.amount, n.currency), _invoice(n, ctx), _method(n)
    day = n.charge_on.isoformat()
    return Parts(
        subject=f"Automatic payment on {day}: {invoice} of {total}",
        intro=[f"Your {invoice} of {total} will be charged automatically on {day} to {method}.",
               "Nothing to do if that is right. To pay it another way first, or to change automatic payments, "
               "open the client portal."],
        title=f"Autopay coming for {ctx.who}: {invoice} of {total} on {day}",
        summary=f"{invoice.capitalize()} of {ctx.who} ({total}) will be charged automatically on {day} to {method}; "
                "the client was told.",
        facts=_facts(n, ctx, "Charge date"),
    )


def autopay_succeeded(n: AutopayNoticeData, ctx: Context) -> Parts:
    total, invoice, method = amount(n.amount, n.currency), _invoice(n, ctx), _method(n)
    return Parts(
        subject=f"Automatic payment received: {total} for {invoice}",
        intro=[f"We received your automatic payment of {total} by {method} for {invoice}.",
               "This is your receipt; you do not need to do anything."],
        title=f"Autopay received from {ctx.who}: {total} for {invoice}",
        summary=f"Autopay charged {ctx.who} {total} by {method} for {invoice}.",
        facts=_facts(n, ctx, "Date"),
    )


def autopay_failed(n: AutopayNoticeData, ctx: Context) -> Parts:
    total, invoice, method = amount(n.amount, n.currency), _invoice(n, ctx), _method(n)
    reason = n.reason or "the payment was declined"
    if n.final:
        # The scheduler has stopped for this invoice: say so, and what the client does now.
        then = ["That was the last try: no more automatic retries will be made for this invoice.",
                f"Please pay {invoice} in the client portal, and update the payment method automatic payments use "
                "if this one no longer works."]
        staff = "That was the last try: autopay has stopped for this invoice; the client must pay it another way."
    elif n.next_attempt_on:
        when = n.next_attempt_on.isoformat()
        then = [f"We will try again on {when}. To avoid another decline, update the payment method automatic "
                f"payments use, or pay {invoice} in the client portal before then."]
        staff = f"Autopay tries again on {when}."
    else:
        then = [f"We will try again. You can also pay {invoice} in the client portal."]
        staff = "Autopay will try again."
    facts = [*_facts(n, ctx, "Date"), ("Reason", reason), ("Attempt", str(n.attempt_number)),
             ("Next try", "none, no more retries" if n.final else (
                 n.next_attempt_on.isoformat() if n.next_attempt_on else "scheduled"))]
    return Parts(
        subject=f"Automatic payment not completed: {total} for {invoice}"
                + (" (no more retries)" if n.final else ""),
        intro=[f"Your automatic payment of {total} by {method} for {invoice} did not go through: {reason}.",
               "Nothing was charged.", *then],
        title=f"Autopay failed for {ctx.who}: {total} for {invoice} ({reason})"
              + (", last try" if n.final else ""),
        summary=f"An automatic payment of {total} by {ctx.who} for {invoice} failed: {reason}. {staff}",
        facts=facts,
    )
