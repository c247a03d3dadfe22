"""The notifications service as a process, over the real broker and database, with the SMTP sink
and the PSA simulator: one email and one ticket per notification however often its source is
replayed, settings per type, outages retried, failures visible, and sync stalls raised."""
from __future__ import annotations

import json

import pytest

from billing_notifications.domain.catalog import NOTIFICATION_TYPES

from billing_shared.events.catalog import BILLING_DIRECTORY, BILLING_INVOICES, BILLING_PAYMENTS
from billing_shared.events.payments import PaymentFailed, PaymentRefunded
from tests.e2e.conftest import CLIENT, MANAGER
from tests.e2e.notifications_support import (  # noqa: F401 - `stack` is a fixture
    ORG, contact_synced, invoice_synced, organization_synced, payment, payment_succeeded, psa_fault, psa_tickets,
    refunded_payment, sink_messages, stack,
)
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)

async def test_a_payment_sends_one_email_and_one_ticket_however_often_it_is_replayed(stack):
    await stack.start()
    await stack.api("PUT", "/v1/settings/notifications", {"payment.succeeded": {"ticket": True}})
    ticketing = await stack.api("PUT", "/v1/settings/ticketing", {"queue_id": 5, "issue_type_id": 3, "priority": 2})
    assert ticketing == {"queue_id": 5, "issue_type_id": 3, "priority": 2, "status": 1, "internal_company_id": 0}
    await stack.publish(BILLING_DIRECTORY, organization_synced(), contact_synced())
    await stack.publish(BILLING_INVOICES, invoice_synced())

    async def invoice_known():  # an invoice is payable, so announced, before anyone pays it
        return await stack.deliveries(type="invoice.available", status="delivered")

    await eventually(invoice_known, timeout=30)
    paid = payment_succeeded()
    await stack.publish(BILLING_PAYMENTS, paid, times=101)  # the event, then 100 replays
    await stack.publish(BILLING_PAYMENTS, payment_succeeded(payment_id=paid.data.payment_id))  # re-published fact

    async def both_delivered():
        rows = await stack.deliveries(type="payment.succeeded")
        return len(rows) == 2 and all(r["status"] == "delivered" for r in rows) and rows

    rows = await eventually(both_delivered, timeout=30)
    assert sorted(r["channel"] for r in rows) == ["email", "ticket"]
    # settle: nothing more turns up while the replays drain
    events = await stack.notifications(count=5, settle=2.0)  # invoice.available: created + delivered too
    mine = [e for e in events if e["data"].get("type") == "payment.succeeded"]
    assert sorted(e["event_type"] for e in mine) == ["notification.created", "notification.delivered",
                                                     "notification.delivered"]
    created = next(e for e in mine if e["event_type"] == "notification.created")["data"]
    assert created["source_event_id"] == str(paid.event_id) and created["channels"] == ["email", "ticket"]
    assert created["email"]["to"] == ["ap@acme.example"]
    assert (created["ticket"]["queue_id"], created["ticket"]["issue_type_id"], created["ticket"]["priority"],
            created["ticket"]["company_id"]) == (5, 3, 2, "678")

    mails = [m for m in await sink_messages(stack.http, stack.sink.http_url)
             if m["subject"].startswith("Payment received")]
    assert len(mails) == 1
    mail = mails[0]
    assert mail["to"] == ["ap@acme.example"] and mail["subject"] == "Payment received: 500.00 USD for invoice 1042"
    assert "Transaction ID: 10000001" in mail["body"] and "Hello Acme Dental," in mail["body"]
    assert mail["headers"]["Message-ID"] == f"<notification-{created['notification_id']}@msp.example>"
    tickets = await psa_tickets(stack.http, stack.psa.url)
    assert len(tickets) == 1
    ticket = tickets[0]
    assert (ticket["companyID"], ticket["queueID"], ticket["issueType"], ticket["priority"], ticket["status"]) == \
        (678, 5, 3, 2, 1)
    assert ticket["title"] == created["ticket"]["title"] and created["notification_id"] in ticket["title"]
    delivered = {r["channel"]: r for r in rows}
    assert delivered["ticket"]["external_id"] == str(ticket["id"])
    assert delivered["email"]["recipients"] == ["ap@acme.example"]
    print("\n--- example email ---\nSubject:", mail["subject"], "\n" + mail["body"])
    print("--- example ticket ---\n" + json.dumps({k: ticket[k] for k in (
        "title", "description", "companyID", "queueID", "issueType", "priority", "status")}, indent=2))


async def test_settings_are_per_type_and_for_admins_only(stack):
    await stack.start()
    defaults = await stack.api("GET", "/v1/settings/notifications")
    assert defaults["payment.succeeded"] == {"email": True, "ticket": False}
    assert defaults["sync.stalled"] == {"email": False, "ticket": True}
    assert set(defaults) == set(NOTIFICATION_TYPES) and len(defaults) == 21
    assert defaults["invoice.past_due"] == {"email": True, "ticket": False}
    assert defaults["payment.refund_failed"] == {"email": False, "ticket": True}
    await stack.api("GET", "/v1/settings/notifications", token="not-a-token", status=401)
    await stack.api("GET", "/v1/settings/notifications", token=MANAGER, status=403)
    await stack.api("GET", "/v1/deliveries", token=CLIENT, status=403)
    await stack.api("PUT", "/v1/settings/ticketing", {"priority": 2}, token=MANAGER, status=403)
    error = await stack.api("PUT", "/v1/settings/notifications", {"payment.applied": {"email": True}}, status=422)
    assert error["error"]["code"] == "invalid_request"
    assert error["error"]["details"]["unknown_types"] == ["payment.applied"]
    error = await stack.api("PUT", "/v1/settings/notifications", {"payment.failed": {"email": "yes"}}, status=422)
    assert error["error"]["code"] == "invalid_request"
    error = await stack.api("PUT", "/v1/settings/ticketing", {"priority": "high"}, status=422)
    assert error["error"]["code"] == "invalid_request"
    error = await stack.api("GET", "/v1/deliveries?status=lost", status=422)
    assert error["error"]["code"] == "invalid_request"

    changed = await stack.api("PUT", "/v1/settings/notifications",
                              {"payment.failed": {"email": False}, "payment.refunded": {"ticket": True}})
    assert changed["payment.failed"] == {"email": False, "ticket": False}
    assert changed["payment.refunded"] == {"email": True, "ticket": True}
    assert changed["payment.succeeded"] == defaults["payment.succeeded"]  # not named: kept
    assert await stack.api("GET", "/v1/settings/notifications") == changed

    await stack.publish(BILLING_DIRECTORY, organization_synced(), contact_synced())
    declined = PaymentFailed.new(producer="payments", organization_id=ORG,
                                 data=payment("failed", failure_reason="card declined"))
    refunded = PaymentRefunded.new(producer="payments", organization_id=ORG, data=refunded_payment())
    await stack.publish(BILLING_PAYMENTS, declined, refunded)

    async def refund_delivered():
        rows = await stack.deliveries(type="payment.refunded", status="delivered")
        return len(rows) == 2 and rows

    await eventually(refund_delivered, timeout=30)
    created = [e["data"] for e in await stack.notifications(count=4, settle=1.0)
               if e["event_type"] == "notification.created"]
    by_type = {c["type"]: c for c in created}
    assert by_type["payment.failed"]["channels"] == [] and by_type["payment.failed"]["email"] is None
    assert by_type["payment.refunded"]["channels"] == ["email", "ticket"]
    assert await stack.deliveries(type="payment.failed") == []
    mails = await sink_messages(stack.http, stack.sink.http_url)
    assert [m["subject"] for m in mails] == ["Refund of 500.00 USD on your payment of 500.00 USD"]
    assert [t["title"].split(" [BL-")[0] for t in await psa_tickets(stack.http, stack.psa.url)] == \
        ["Refund recorded for Acme Dental: 500.00 USD"]
    page = await stack.api("GET", "/v1/deliveries?limit=1")
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = await stack.api("GET", f"/v1/deliveries?limit=1&cursor={page['next_cursor']}")
    assert rest["items"][0]["delivery_id"] != page["items"][0]["delivery_id"] and rest["next_cursor"] is None


async def test_an_smtp_outage_is_retried_and_the_email_goes_out_when_it_returns(stack):
    await stack.start()  # transient failures are retried until the horizon (48 h by default)
    await stack.sink.smtp.stop()
    await stack.publish(BILLING_DIRECTORY, organization_synced(), contact_synced())
    await stack.publish(BILLING_PAYMENTS, payment_succeeded())

    async def retried():
        rows = await stack.deliveries(type="payment.succeeded")
        return rows and rows[0]["attempts"] >= 3 and rows[0]

    row = await eventually(retried, timeout=30)
    assert row["status"] == "pending" and "unreachable" in row["last_error"]
    assert await sink_messages(stack.http, stack.sink.http_url) == []
    await stack.sink.smtp.start()

    async def delivered():
        rows = await stack.deliveries(type="payment.succeeded", status="delivered")
        return rows and rows[0]

    row = await eventually(delivered, timeout=30)
    assert row["last_error"] is None
    assert len(await sink_messages(stack.http, stack.sink.http_url)) == 1


async def test_psa_errors_are_retried_then_the_ticket_fails_visibly(stack):
    await stack.start(RETRY_HORIZON_SECONDS="2")
    await stack.api("PUT", "/v1/settings/notifications", {"payment.succeeded": {"email": False, "ticket": True}})
    await psa_fault(stack.http, stack.psa.url, count=1000)
    await stack.publish(BILLING_PAYMENTS, payment_succeeded())

    async def failed():
        rows = await stack.deliveries(status="failed")
        return rows and rows[0]

    row = await eventually(failed, timeout=30)
    assert (row["channel"], row["type"]) == ("ticket", "payment.succeeded") and row["attempts"] >= 2
    assert "Simulated outage" in row["last_error"]
    assert f"gave up after {row['attempts']} attempts over" in row["last_error"]
    events = await stack.notifications(count=2)
    assert [e["event_type"] for e in events] == ["notification.created", "notification.failed"]
    assert events[1]["data"]["reason"] == row["last_error"] and events[1]["data"]["channel"] == "ticket"
    assert await psa_tickets(stack.http, stack.psa.url) == []
