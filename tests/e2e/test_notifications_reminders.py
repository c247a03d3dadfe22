"""Past-due reminders with the notifications service as a process: an unpaid invoice a day past due gets
one reminder email, whatever the replicas' passes and the event replays; the settings API answers in the
contract's words (issue 12, item 3)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing_shared.events.catalog import BILLING_DIRECTORY, BILLING_INVOICES
from billing_shared.events.invoices import InvoiceSynced
from tests.e2e.conftest import CLIENT, MANAGER
from tests.e2e.notifications_support import (  # noqa: F401 - `stack` is a fixture
    ORG, contact_synced, invoice, organization_synced, sink_messages, stack,
)
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)


async def test_an_unpaid_invoice_a_day_past_due_gets_one_reminder(stack):
    await stack.start(REMINDER_CHECK_SECONDS="0.3")
    await stack.publish(BILLING_DIRECTORY, organization_synced(), contact_synced())
    today = datetime.now(UTC).date()
    late = invoice("7001", invoice_id="autotask:7001").model_copy(update={"due_on": today - timedelta(days=1)})
    not_yet = invoice("7002", invoice_id="autotask:7002").model_copy(update={"due_on": today})
    await stack.publish(BILLING_INVOICES, *(InvoiceSynced.new(producer="sync", organization_id=ORG, data=d)
                                            for d in (late, not_yet)), times=3)

    async def reminded():
        return [m for m in await sink_messages(stack.http, stack.sink.http_url) if m["subject"].startswith("Reminder")]

    [mail] = await eventually(reminded, timeout=30)
    assert mail["subject"] == "Reminder: invoice 7001 is 1 day past due" and mail["to"] == ["ap@acme.example"]
    assert "Balance due: 500.00 USD" in mail["body"]
    assert len(await stack.deliveries(type="invoice.past_due")) == 1  # many passes later, still one


async def test_the_reminder_schedule_is_an_admin_setting(stack):
    await stack.start()
    assert await stack.api("GET", "/v1/settings/reminders") == {"days_after_due": [1, 7, 14]}
    assert await stack.api("PUT", "/v1/settings/reminders", {"days_after_due": [30, 5]}) == {"days_after_due": [5, 30]}
    refused = await stack.api("PUT", "/v1/settings/reminders", {"days_after_due": [0]}, status=422)
    assert refused["error"]["code"] == "invalid_request" and "days_after_due" in refused["error"]["details"]["fields"]
    refused = await stack.api("PUT", "/v1/settings/reminders", {"days_after_due": "7"}, status=422)
    assert refused["error"]["code"] == "invalid_request"
    for token in (MANAGER, CLIENT):
        await stack.api("GET", "/v1/settings/reminders", token=token, status=403)
    assert await stack.api("GET", "/v1/settings/reminders") == {"days_after_due": [5, 30]}
