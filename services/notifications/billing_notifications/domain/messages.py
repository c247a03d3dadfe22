"""What each notification says: the facts that matter, in plain text (no I/O).

Every type yields an email (written to the client, or to staff for staff-facing types) and a
ticket (written to the staff who work the PSA queue). Both carry the same facts.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import account_templates as acc
from . import autopay_templates as auto
from . import payment_templates as pay
from .catalog import TYPES
from .parts import Context, Parts

__all__ = ["Context", "Rendered", "render"]


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    title: str
    description: str


def render(kind: str, data: Any, ctx: Context) -> Rendered:
    parts = _TEMPLATES[kind](data, ctx)
    facts = [f"{label}: {value}" for label, value in parts.facts]
    staff = TYPES[kind].audience == "staff"
    greeting = "Hello," if staff else f"Hello {getattr(data, 'name', None) or ctx.who},"
    closing = "-- billing link" if staff else "Thank you,\nBilling"
    body = "\n".join([greeting, "", *parts.intro, "", *facts, "", closing])
    description = "\n".join([parts.summary, "", *facts])
    return Rendered(parts.subject, body, parts.title, description)


_TEMPLATES: dict[str, Callable[[Any, Context], Parts]] = {
    "payment.succeeded": pay.payment_succeeded,
    "payment.failed": pay.payment_failed,
    "payment.refunded": pay.payment_refunded,
    "payment.cancelled": pay.payment_cancelled,
    "payment.charged_back": pay.payment_charged_back,
    "payment.settlement_failed": pay.payment_settlement_failed,
    "payment.unapplied": pay.payment_unapplied,
    "payment.refund_failed": pay.payment_refund_failed,
    "invoice.over_applied": acc.invoice_over_applied,
    "invoice.available": acc.invoice_available,
    "invoice.past_due": acc.invoice_past_due,
    "payment_method.added": acc.payment_method_added,
    "sync.failed": acc.sync_failed,
    "sync.stalled": acc.sync_stalled,
    "integration.connection_failed": acc.connection_failed,
    "portal.invitation": acc.portal_invitation,
    "reconciliation.drift_found": acc.reconciliation_drift_found,
    "autopay.upcoming": auto.autopay_upcoming,
    "autopay.succeeded": auto.autopay_succeeded,
    "autopay.failed": auto.autopay_failed,
    "webhook.subscription_disabled": acc.webhook_subscription_disabled,
}
