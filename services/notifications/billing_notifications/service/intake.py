"""Source events become notifications: the intent is recorded once, with one delivery row per
enabled channel, and published as `notification.created`, all in the consumer's transaction."""
from __future__ import annotations

import uuid

from billing_shared.events import Event
from billing_shared.events.catalog import BILLING_NOTIFICATIONS
from billing_shared.events.notifications import NotificationCreated
from billing_shared.outbox import Tx

from billing_notifications.adapters import episode_store, intake_store, notification_store
from billing_notifications.domain import messages
from billing_notifications.domain.catalog import TYPES
from billing_notifications.domain.compose import compose
from billing_notifications.domain.triggers import Trigger, integrations_working, trigger_for

PRODUCER = "notifications"


class Intake:
    def __init__(self, *, staff_email: str | None = None, invoice_max_age_days: int | None = None) -> None:
        self.staff_email = staff_email
        self.invoice_max_age_days = invoice_max_age_days

    async def handle(self, tx: Tx, event: Event) -> None:
        episode = None
        if event.event_type == "integration.connection_failed":
            episode = await episode_store.failing(tx.conn, event.organization_id, event.data.integration)
        trigger = trigger_for(event, invoice_max_age_days=self.invoice_max_age_days, episode=episode)
        if trigger is not None:
            await self.record(tx, trigger)

    async def on_sync_completed(self, tx: Tx, event: Event) -> None:
        """A run completed: the integrations it used work again, so their failure episodes end."""
        await episode_store.working(tx.conn, event.organization_id, integrations_working(event.data))

    async def record(self, tx: Tx, trigger: Trigger) -> bool:
        """False when this (type, source) was notified already."""
        conn = tx.conn
        audience = TYPES[trigger.type].audience
        known = await intake_store.facts(conn, trigger.type, trigger.organization_id, trigger.invoice_ids,
                                         organization_address=audience not in ("staff", "invitee"))
        switch, ticketing = known.switch, known.ticketing
        context = messages.Context(organization_id=trigger.organization_id,
                                   organization_name=known.organization_name, invoice_numbers=known.invoice_numbers)
        text = messages.render(trigger.type, trigger.facts, context)
        notification = compose(
            trigger, notification_id=str(uuid.uuid4()), switch=switch, text=text, ticketing=ticketing,
            recipients=self._recipients(trigger, known.recipients) if switch.email else [],
        )
        extra = {"status": ticketing.status} if switch.ticket else None  # beyond the contract's ticket fields
        if not await notification_store.record(conn, notification, trigger.dedupe_key, extra):
            return False
        tx.publish(BILLING_NOTIFICATIONS, NotificationCreated.new(
            producer=PRODUCER, organization_id=trigger.organization_id, data=notification,
            correlation_id=trigger.source_event_id,
        ))
        return True

    def _recipients(self, trigger: Trigger, organization_address: list[str]) -> list[str]:
        """Who the email is for as far as is known now; the worker asks again when it sends."""
        if TYPES[trigger.type].audience == "staff":
            return [self.staff_email] if self.staff_email else []
        if TYPES[trigger.type].audience == "invitee":
            return [trigger.facts.email]
        return organization_address
