"""Which source events raise which notification, and the key that makes it happen once.

A notification exists once per (type, dedupe key). The key is the source event id, or a business
id where the fact itself can only happen once (a payment succeeds once, an invoice becomes
available once, a sync run fails once, a stall is raised once per last completed run, an
integration's connection fails once per episode), so that a producer that re-publishes the same
fact under a new event id does not notify twice either.

Two rules keep go-live quiet: an invoice issued long before the sync published it (a first full
sync publishes every historical open invoice) is not announced; and a broken integration, whose
every run and connection test raises `integration.connection_failed`, notifies once per episode:
until a sync run of that integration completes (adapters/episode_store.py keeps the episode).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from billing_shared.events import Event
from billing_shared.events.envelope import Data
from billing_shared.events.invoices import InvoiceSnapshot
from billing_shared.events.payments import PaymentSnapshot

from .freshness import utc
from .webhooks import SubscriptionDisabled

# A payment reaches each of these states once: the payment id is the fact's identity.
ONCE_PER_PAYMENT = {"payment.succeeded", "payment.failed", "payment.cancelled", "payment.charged_back",
                    "payment.settlement_failed"}
# These can happen several times to one payment (partial refunds, one void per invoice, each failed refund).
ONCE_PER_EVENT = {"payment.refunded", "payment.unapplied", "payment.refund_failed"}
AUTOPAY = {"autopay.upcoming", "autopay.succeeded", "autopay.failed"}
# Source events notified as another type: a record a sync run skipped is sync trouble for staff,
# switched with `sync.failed`.
NOTIFIED_AS = {"invoice.synced": "invoice.available", "sync.record_failed": "sync.failed",
               "invitation.sent": "portal.invitation", "reconciliation.completed": "reconciliation.drift_found"}


@dataclass(frozen=True)
class Trigger:
    type: str
    dedupe_key: str
    organization_id: str
    source_event_id: str
    facts: Data
    invoice_ids: tuple[str, ...] = field(default=())


def invoice_too_old(issued_on: date, published_on: date, max_age_days: int | None) -> bool:
    """An invoice issued more than `max_age_days` before the sync published it is history, not news."""
    return max_age_days is not None and (published_on - issued_on).days > max_age_days


def trigger_for(event: Event, *, invoice_max_age_days: int | None = None, episode: int | None = None) -> Trigger | None:
    """The notification an event raises, if any (no I/O). `invoice_max_age_days`: see
    `invoice_too_old` (None: no limit). `episode`: the integration's current failure episode, for
    `integration.connection_failed` (without it, each event is its own notification)."""
    kind, data, event_id = event.event_type, event.data, str(event.event_id)

    def make(key: str, invoice_ids: tuple[str, ...] = ()) -> Trigger:
        return Trigger(NOTIFIED_AS.get(kind, kind), key, event.organization_id, event_id, data, invoice_ids)

    if kind == "invoice.synced":
        invoice: InvoiceSnapshot = data
        if invoice.status != "open" or not invoice.invoice_number:
            return None  # not payable yet: nothing to announce
        if invoice_too_old(invoice.issued_on, utc(event.occurred_at).date(), invoice_max_age_days):
            return None  # an old invoice first seen now (go-live): not news to the client
        return make(invoice.invoice_id, (invoice.invoice_id,))
    if kind in ("payment.succeeded", "payment.failed") and data.origin == "autopay":
        return None  # autopay.succeeded or autopay.failed tells the client of this charge, once
    if kind in ONCE_PER_PAYMENT or kind in ONCE_PER_EVENT:
        payment: PaymentSnapshot = data
        invoices = tuple(a.invoice_id for a in payment.applications)
        return make(payment.payment_id if kind in ONCE_PER_PAYMENT else event_id, invoices)
    if kind == "payment_method.added":
        return make(data.method_id)
    if kind == "invitation.sent":  # one email per invitation, however often the event comes
        return make(data.invitation_id)
    if kind == "invoice.over_applied":  # one per total and applied amount it was seen with
        return make(f"{data.invoice_id}:{data.total}:{data.applied}", (data.invoice_id,))
    if kind in AUTOPAY:
        # Once per attempt (an attempt succeeds or fails once); an upcoming charge once per invoice and rule:
        # payments names its notice `upcoming:{invoice}:{rule}`, so a changed rule (a new charge day) is news.
        return make(data.attempt_id, (data.invoice_id,))
    if kind == "reconciliation.completed":  # once per run, and only when something disagrees or was not checked
        return make(data.run_id) if data.drift_count or data.incomplete else None
    if kind == "sync.failed":
        return make(f"{event.organization_id}:{data.integration}:{data.run_id}")
    if kind == "sync.record_failed":
        # Once per record and reason: a record refused the same way run after run is one ticket.
        reason = hashlib.sha256(data.reason.encode()).hexdigest()[:16]
        return make(f"{event.organization_id}:{data.integration}:{data.entity}:{data.record_id}:{reason}")
    if kind == "sync.stalled":
        since = utc(data.last_completed_at).isoformat() if data.last_completed_at else "never"
        return make(f"{event.organization_id}:{data.integration}:{since}")
    if kind == "integration.connection_failed":
        if episode is None:
            return make(event_id)
        return make(f"{event.organization_id}:{data.integration}:episode-{episode}")
    return None


def integrations_working(completed: Data) -> tuple[str, ...]:
    """The integrations a completed sync run shows to work: its own, and QuickBooks with Autotask,
    because a run reads and numbers invoices in QuickBooks when it is configured and fails when
    QuickBooks refuses (without QuickBooks configured, no QuickBooks failure is raised either)."""
    integration = completed.integration
    return ("autotask", "quickbooks") if integration == "autotask" else (integration,)


def subscription_disabled(facts: SubscriptionDisabled) -> Trigger:
    """Staff hear once per disabling (a subscription enabled again and disabled again is news again); it is
    about no client organization, and correlates with the oldest message left waiting."""
    key = f"{facts.subscription_id}:{utc(facts.failing_since).isoformat()}"
    return Trigger("webhook.subscription_disabled", key, "system", facts.message_id, facts)
