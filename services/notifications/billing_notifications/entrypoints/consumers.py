"""Which handler takes which event type, per consumer group (each group is also its inbox name)."""
from __future__ import annotations

from dataclasses import dataclass

from billing_shared.events import Event
from billing_shared.events.catalog import (
    BILLING_DIRECTORY, BILLING_INVOICES, BILLING_PAYMENTS, BILLING_PORTAL, BILLING_SYNC,
)
from billing_shared.kafka.runner import Batched, Handler
from billing_shared.outbox import Tx

from billing_notifications.domain import webhooks as webhook_rules
from billing_notifications.service import directory, reminders, webhooks
from billing_notifications.service.intake import Intake

PAYMENT_TYPES = ("payment.succeeded", "payment.failed", "payment.refunded", "payment.cancelled",
                 "payment.charged_back", "payment.settlement_failed", "payment.unapplied", "payment_method.added",
                 "payment.refund_failed", "invoice.over_applied")
# Every payment snapshot says what the payment applies to each invoice now (the balances reminders need).
SNAPSHOT_TYPES = ("payment.succeeded", "payment.failed", "payment.unapplied", "payment.applied", "payment.refunded",
                  "payment.cancelled", "payment.settlement_failed", "payment.refund_failed", "payment.charged_back")
AUTOPAY_TYPES = ("autopay.upcoming", "autopay.succeeded", "autopay.failed")
SYNC_TYPES = ("sync.failed", "sync.record_failed", "sync.stalled", "integration.connection_failed")


@dataclass(frozen=True)
class ConsumerSpec:
    name: str
    topics: tuple[str, ...]
    handlers: dict[str, Handler | Batched]


def consumers(intake: Intake) -> list[ConsumerSpec]:
    async def on_invoice_synced(tx: Tx, event: Event) -> None:
        await directory.on_invoice(tx, event)
        await intake.handle(tx, event)

    async def on_payment_event(tx: Tx, event: Event) -> None:
        if event.event_type in SNAPSHOT_TYPES:
            await reminders.on_payment(tx, event)
        if event.event_type in PAYMENT_TYPES:
            await intake.handle(tx, event)

    return [
        ConsumerSpec("notifications-directory", (BILLING_DIRECTORY,), {
            "organization.synced": directory.on_organization_synced,
            "contact.synced": directory.on_contact_synced,
        }),
        ConsumerSpec("notifications-invoices", (BILLING_INVOICES,), {
            "invoice.synced": on_invoice_synced,
            "invoice.voided": directory.on_invoice,
        }),
        ConsumerSpec("notifications-payments", (BILLING_PAYMENTS,),
                     {**{t: on_payment_event for t in (*PAYMENT_TYPES, *SNAPSHOT_TYPES)},
                      "reconciliation.completed": intake.handle,
                      **{t: intake.handle for t in AUTOPAY_TYPES}}),
        ConsumerSpec("notifications-sync", (BILLING_SYNC,), {
            **{t: intake.handle for t in SYNC_TYPES},
            "sync.completed": intake.on_sync_completed,  # ends integrations' failure episodes
        }),
        ConsumerSpec("notifications-portal", (BILLING_PORTAL,), {"invitation.sent": intake.handle}),
        # Outbound webhooks: every event of every billing.* topic, enqueued for the subscriptions that want it.
        ConsumerSpec("notifications-webhooks", webhook_rules.TOPICS,
                     {t: webhooks.on_event for t in webhook_rules.EVENT_TYPES}),
    ]
