"""Past-due reminders against a real Postgres, on a fake calendar: one reminder per step of the
schedule, the balance left after payments, none once the invoice is paid or voided, none twice with two
replicas passing at once (issue 12, item 3)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from billing_shared.db import create_pool
from billing_shared.events.invoices import InvoiceSynced, InvoiceVoided
from billing_shared.events.payments import PaymentApplied, PaymentCancelled
from billing_shared.kafka.runner import Batched
from billing_shared.kafka.topics import TopicNames
from billing_shared.migrations import migrate
from billing_shared.money import money
from billing_shared.outbox import UnitOfWork
from billing_notifications.entrypoints.consumers import consumers
from billing_notifications.service.intake import Intake
from billing_notifications.service.reminders import Reminders
from tests.e2e.notifications_support import ORG, contact_synced, invoice, organization_synced, payment

pytestmark = pytest.mark.timeout(60)
DUE = date(2026, 11, 2)


@pytest.fixture
async def uow(database_url) -> AsyncIterator[UnitOfWork]:
    pool = await create_pool(database_url, "notifications", max_size=5)
    await migrate(pool, "notifications", "billing_notifications")
    try:
        yield UnitOfWork(pool, TopicNames(""))
    finally:
        await pool.close()


async def consume(uow: UnitOfWork, *events) -> None:  # type: ignore[no-untyped-def]
    """Each event through every consumer group that takes its type (notifications-webhooks takes them all)."""
    specs = consumers(Intake())
    for event in events:
        for spec in specs:
            if (handler := spec.handlers.get(event.event_type)) is not None:
                async with uow.begin() as tx:
                    if isinstance(handler, Batched):  # as the runner calls it: a run of one here
                        await handler.fn(tx, [event])
                    else:
                        await handler(tx, event)


def due_invoice(invoice_id: str, number: str, total: str = "500.00", **kw) -> InvoiceSynced:  # type: ignore[no-untyped-def]
    snapshot = invoice(number, invoice_id=invoice_id, **kw).model_copy(update={"due_on": DUE, "total": money(total)})
    return InvoiceSynced.new(producer="sync", organization_id=ORG, data=snapshot)


async def reminders_of(uow: UnitOfWork) -> list[tuple[str, str]]:
    rows = await uow.pool.fetch("SELECT dedupe_key, email FROM notifications WHERE type = 'invoice.past_due' "
                                "ORDER BY created_at, dedupe_key")
    return [(r["dedupe_key"], r["email"]["subject"]) for r in rows]


def day(n: int) -> date:
    return DUE + timedelta(days=n)


async def test_each_step_is_sent_once_with_the_balance_left_and_none_after_the_invoice_is_paid(uow):
    await consume(uow, organization_synced(), contact_synced(), due_invoice("autotask:1", "1001"))
    part = payment(amount="200.00", invoice_id="autotask:1")
    await consume(uow, PaymentApplied.new(producer="payments", organization_id=ORG, data=part))
    reminders = Reminders(uow, Intake(), check_seconds=1, catch_up_days=3)

    assert await reminders.raise_due(day(0)) == 0  # due today: not late yet
    assert await reminders.raise_due(day(1)) == 1
    assert await reminders.raise_due(day(1)) == 0 and await reminders.raise_due(day(2)) == 0
    [(key, subject)] = await reminders_of(uow)
    assert (key, subject) == ("autotask:1:1", "Reminder: invoice 1001 is 1 day past due")
    body = await uow.pool.fetchval("SELECT email->>'body_text' FROM notifications WHERE dedupe_key = $1", key)
    assert "Balance due: 300.00 USD" in body and "Due on: 2026-11-02" in body

    assert await reminders.raise_due(day(8)) == 1  # the 7-day step, a day late
    rest = payment(amount="300.00", invoice_id="autotask:1")
    await consume(uow, PaymentApplied.new(producer="payments", organization_id=ORG, data=rest))
    assert await reminders.raise_due(day(14)) == 0  # paid: the 14-day step never goes
    assert [k for k, _ in await reminders_of(uow)] == ["autotask:1:1", "autotask:1:7"]


async def test_a_cancelled_payment_gives_the_balance_back_and_a_voided_or_paid_invoice_is_not_reminded(uow):
    await consume(uow, organization_synced(), contact_synced(), due_invoice("autotask:2", "1002"),
                  due_invoice("autotask:3", "1003"), due_invoice("autotask:4", "1004"))
    paid = payment(amount="500.00", invoice_id="autotask:2")
    await consume(uow, PaymentApplied.new(producer="payments", organization_id=ORG, data=paid))
    cancelled = paid.model_copy(update={"status": "cancelled", "applications": [],
                                        "applied_amount": money("0.00"), "sale_amount": money("0.00")})
    await consume(uow, PaymentCancelled.new(producer="payments", organization_id=ORG, data=cancelled))
    voided = invoice("1003", invoice_id="autotask:3", status="voided", version=2)
    await consume(uow, InvoiceVoided.new(producer="sync", organization_id=ORG, data=voided),
                  due_invoice("autotask:4", "1004", status="paid", version=2))  # paid in the PSA or the books
    assert await Reminders(uow, Intake(), check_seconds=1, catch_up_days=3).raise_due(day(1)) == 1
    assert [k for k, _ in await reminders_of(uow)] == ["autotask:2:1"]


async def test_two_replicas_passing_at_once_remind_once_and_the_schedule_comes_from_the_settings(uow):
    await consume(uow, organization_synced(), contact_synced(),
                  *(due_invoice(f"autotask:{n}", str(2000 + n)) for n in range(10, 30)))
    await uow.pool.execute("INSERT INTO reminder_settings (id, days_after_due) VALUES (1, '{3}')")
    one, two = (Reminders(uow, Intake(), check_seconds=1, catch_up_days=3) for _ in range(2))
    assert await one.raise_due(day(1)) == 0  # the schedule says 3 days
    counts = await asyncio.gather(one.raise_due(day(3)), two.raise_due(day(3)))
    assert sum(counts) == 20
    keys = [k for k, _ in await reminders_of(uow)]
    assert len(keys) == len(set(keys)) == 20 and all(k.endswith(":3") for k in keys)
    deliveries = await uow.pool.fetchval("SELECT count(*) FROM deliveries WHERE type = 'invoice.past_due'")
    assert deliveries == 20  # one email each
