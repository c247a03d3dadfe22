"""Past-due reminders: what payments applied to each invoice, and a periodic pass that records the step
each unpaid invoice has reached (domain/reminders.py) as an `invoice.past_due` notification.

Every replica runs the pass; the notification's (type, dedupe key) makes each (invoice, step) happen
once, so replicas, restarts and repeated passes never remind twice. An invoice paid (its balance here
is zero) or voided or paid elsewhere (the invoice snapshot says so) drops out of the pass."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

import structlog

from billing_shared.events.payments import PaymentSnapshot
from billing_shared.outbox import Tx, UnitOfWork

from billing_notifications.adapters import invoice_store, settings_store
from billing_notifications.domain import reminders
from billing_notifications.domain.triggers import Trigger
from billing_notifications.service.intake import Intake

log = structlog.get_logger(__name__)
KIND = "invoice.past_due"
_SOURCE = uuid.UUID("0b1c7f52-3a8e-4a55-9d0e-6c1f5e2a9b70")  # names the reminders' source ids (uuid5)


async def on_payment(tx: Tx, event) -> None:  # type: ignore[no-untyped-def]
    """Keep what this payment applies to each invoice, from its latest snapshot."""
    snapshot: PaymentSnapshot = event.data
    await invoice_store.record_applications(
        tx.conn, snapshot.payment_id, [(a.invoice_id, a.amount) for a in snapshot.applications])


class Reminders:
    def __init__(self, uow: UnitOfWork, intake: Intake, *, check_seconds: float, catch_up_days: int,
                 today: Callable[[], date] = lambda: datetime.now(UTC).date()) -> None:
        self.uow, self.intake = uow, intake
        self.check_seconds, self.catch_up_days, self.today = check_seconds, catch_up_days, today

    async def run(self) -> None:
        while True:
            try:
                await self.raise_due(self.today())
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("past-due reminders pass failed")
            await asyncio.sleep(self.check_seconds)

    async def raise_due(self, today: date) -> int:
        """Record today's reminders; returns how many were new."""
        schedule = await settings_store.reminder_days(self.uow.pool)
        due = reminders.window(today, schedule, catch_up_days=self.catch_up_days)
        if due is None:
            return 0
        async with self.uow.pool.acquire() as conn:
            unpaid = await invoice_store.unpaid_due_between(conn, *due)
        raised = 0
        for invoice in unpaid:
            step = reminders.due_step(invoice.due_on, today, schedule, catch_up_days=self.catch_up_days)
            if step is None:
                continue
            key = f"{invoice.invoice_id}:{step}"
            facts = reminders.PastDue(
                invoice_id=invoice.invoice_id, invoice_number=invoice.invoice_number, currency=invoice.currency,
                balance=invoice.balance, due_on=invoice.due_on, days_past_due=(today - invoice.due_on).days, step=step)
            async with self.uow.begin() as tx:
                raised += await self.intake.record(tx, Trigger(
                    KIND, key, invoice.organization_id, str(uuid.uuid5(_SOURCE, key)), facts, (invoice.invoice_id,)))
        if raised:
            log.info("past-due reminders recorded", count=raised, today=today.isoformat())
        return raised
