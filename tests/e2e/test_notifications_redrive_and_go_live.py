"""The service as a process: an admin re-drives a failed delivery (`POST
/v1/deliveries/{id}/retry`, beyond the contract) and it goes out as the same message; go-live does
not flood: a broken integration is one ticket until a run completes, and invoices issued long
before the sync saw them are not announced."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from billing_shared.events.catalog import BILLING_DIRECTORY, BILLING_INVOICES, BILLING_PAYMENTS, BILLING_SYNC
from billing_shared.events.invoices import InvoiceSynced
from billing_shared.events.sync import ConnectionFailedData, IntegrationConnectionFailed, SyncFailed, SyncFailedData
from tests.e2e.conftest import MANAGER
from tests.e2e.notifications_support import (  # noqa: F401 - `stack` is a fixture
    contact_synced, invoice_synced, organization_synced, payment_succeeded, psa_tickets, sink_messages, stack,
    sync_completed,
)
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)


async def test_an_admin_re_drives_a_failed_email_and_it_goes_out_as_the_same_message(stack):
    await stack.start(RETRY_HORIZON_SECONDS="1")
    await stack.sink.smtp.stop()
    await stack.publish(BILLING_DIRECTORY, organization_synced(), contact_synced())
    await stack.publish(BILLING_PAYMENTS, payment_succeeded())

    async def failed():
        rows = await stack.deliveries(type="payment.succeeded", status="failed")
        return rows and rows[0]

    row = await eventually(failed, timeout=30)
    assert "unreachable" in row["last_error"] and "gave up after" in row["last_error"]
    retry = f"/v1/deliveries/{row['delivery_id']}/retry"
    await stack.api("POST", retry, token=MANAGER, status=403)
    for unknown in (str(uuid.uuid4()), "not-a-delivery"):
        error = await stack.api("POST", f"/v1/deliveries/{unknown}/retry", status=404)
        assert error["error"]["code"] == "not_found"

    await stack.sink.smtp.start()
    view = await stack.api("POST", retry)
    assert (view["delivery_id"], view["notification_id"]) == (row["delivery_id"], row["notification_id"])
    assert view["status"] == "pending" and view["finished_at"] is None

    async def delivered():
        rows = await stack.deliveries(type="payment.succeeded", status="delivered")
        return rows and rows[0]

    done = await eventually(delivered, timeout=30)
    assert done["delivery_id"] == row["delivery_id"] and done["attempts"] > row["attempts"]
    mails = await sink_messages(stack.http, stack.sink.http_url)
    assert len(mails) == 1
    assert mails[0]["headers"]["Message-ID"] == f"<notification-{row['notification_id']}@msp.example>"
    error = await stack.api("POST", retry, status=409)  # only a failed delivery is re-driven
    assert (error["error"]["code"], error["error"]["details"]) == ("delivery_not_failed", {"status": "delivered"})
    events = await stack.notifications(count=3, settle=0.5)
    assert [e["event_type"] for e in events] == ["notification.created", "notification.failed",
                                                 "notification.delivered"]


def connection_failed(integration: str = "autotask") -> IntegrationConnectionFailed:
    return IntegrationConnectionFailed.new(producer="sync", organization_id="system", data=ConnectionFailedData(
        integration=integration, reason="Autotask refused the credentials: 401 Unauthorized"))


async def test_a_broken_integration_is_one_ticket_until_a_run_completes(stack):
    await stack.start()
    now = datetime.now(UTC)
    # hourly runs and connection tests with refused credentials; fixed (a run completes); broken again
    await stack.publish(BILLING_SYNC, connection_failed(), connection_failed(), connection_failed(),
                        sync_completed(60, at=now), connection_failed(), connection_failed())
    # events of one organization are consumed in order: once this one is notified, all before it are
    marker = SyncFailed.new(producer="sync", organization_id="system",
                            data=SyncFailedData(integration="autotask", run_id="last", reason="marker"))
    await stack.publish(BILLING_SYNC, marker)

    async def marker_notified():
        return await stack.deliveries(type="sync.failed")

    await eventually(marker_notified, timeout=30)
    rows = await stack.deliveries(type="integration.connection_failed")
    assert [r["channel"] for r in rows] == ["ticket", "ticket"]

    async def tickets_created():
        tickets = await psa_tickets(stack.http, stack.psa.url)
        return len(tickets) == 3 and tickets

    tickets = await eventually(tickets_created, timeout=30)
    titles = sorted(t["title"].split(" [BL-")[0] for t in tickets)
    assert titles == ["Autotask sync failed: marker"] + \
        ["Cannot connect to Autotask: Autotask refused the credentials: 401 Unauthorized"] * 2


def issued(days_ago: int, invoice_id: str) -> InvoiceSynced:
    event = invoice_synced(invoice_id=invoice_id, number=invoice_id.rpartition(":")[2])
    when = (datetime.now(UTC) - timedelta(days=days_ago)).date()
    return event.model_copy(update={"data": event.data.model_copy(update={"issued_on": when})})


async def test_go_live_announces_only_invoices_issued_lately(stack):
    await stack.start()  # INVOICE_AVAILABLE_MAX_AGE_DAYS: 30 by default
    await stack.publish(BILLING_DIRECTORY, organization_synced(), contact_synced())
    await stack.publish(BILLING_INVOICES, issued(400, "autotask:101"), issued(45, "autotask:102"),
                        issued(2, "autotask:103"))

    async def announced():
        return await stack.deliveries(type="invoice.available", status="delivered")

    await eventually(announced, timeout=30)
    mails = await sink_messages(stack.http, stack.sink.http_url)
    assert [m["subject"] for m in mails] == ["Invoice 103 from your IT provider is ready to pay"]
    assert len(await stack.deliveries(type="invoice.available")) == 1
