"""Autopay's notifications through the notifications process, over the real broker and database, with the SMTP
sink and the PSA simulator: a last declined automatic charge sends one email to the client (however often the
event comes) and one ticket to staff, both saying no more retries follow."""
from __future__ import annotations

from datetime import date

import pytest

from billing_shared.events.autopay import AutopayFailed, AutopayNoticeData
from billing_shared.events.catalog import BILLING_DIRECTORY, BILLING_PAYMENTS
from billing_shared.events.payments import PaymentMethodSummary
from billing_shared.money import money
from tests.e2e.notifications_support import (  # noqa: F401 - `stack` is a fixture
    ORG, contact_synced, organization_synced, psa_tickets, sink_messages, stack,
)
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)


async def test_a_last_declined_autopay_sends_one_email_and_one_ticket_that_say_no_more_retries(stack):
    await stack.start()
    await stack.publish(BILLING_DIRECTORY, organization_synced(), contact_synced())
    failed = AutopayFailed.new(producer="payments", organization_id=ORG, data=AutopayNoticeData(
        attempt_id="attempt-3", attempt_number=3, organization_id=ORG, invoice_id="autotask:12345",
        invoice_number="1042", currency="USD", amount=money("500.00"), charge_on=date(2026, 12, 7),
        method=PaymentMethodSummary(type="credit_card", brand="visa", last4="1111"), payment_id="p-3",
        reason="card declined", final=True))
    await stack.publish(BILLING_PAYMENTS, failed, times=3)  # the event and two replays
    # the same attempt re-published under a new event id is the same fact
    await stack.publish(BILLING_PAYMENTS, AutopayFailed.new(producer="payments", organization_id=ORG,
                                                            data=failed.data))

    async def both_delivered():
        rows = await stack.deliveries(type="autopay.failed")
        return len(rows) == 2 and all(r["status"] == "delivered" for r in rows) and rows

    rows = await eventually(both_delivered, timeout=30)
    assert sorted(r["channel"] for r in rows) == ["email", "ticket"]  # the defaults: email and a ticket
    await stack.notifications(count=3, settle=2.0)  # let the replays drain: nothing more turns up
    assert len(await stack.deliveries(type="autopay.failed")) == 2

    mails = [m for m in await sink_messages(stack.http, stack.sink.http_url) if "Automatic payment" in m["subject"]]
    assert len(mails) == 1
    mail = mails[0]
    assert mail["to"] == ["ap@acme.example"]
    assert mail["subject"] == "Automatic payment not completed: 500.00 USD for invoice 1042 (no more retries)"
    assert "did not go through: card declined." in mail["body"]
    assert "no more automatic retries will be made" in mail["body"]
    tickets = await psa_tickets(stack.http, stack.psa.url)
    assert len(tickets) == 1 and "card declined" in tickets[0]["title"] and tickets[0]["companyID"] == 678
