"""Notifications' domain: which events notify, once per what, what each message says, the
channel switches and the ticket marker. No I/O."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from billing_shared.events.payments import (
    PaymentApplied, PaymentFailed, PaymentMethodAdded, PaymentMethodData, PaymentRefunded, PaymentSettlementFailed,
    PaymentUnapplied, TransactionRow,
)
from billing_shared.events.sync import (
    ConnectionFailedData, IntegrationConnectionFailed, SyncFailed, SyncFailedData, SyncStalled, SyncStalledData,
)
from billing_shared.money import money
from billing_notifications.domain import messages, tickets
from billing_notifications.domain.catalog import (
    NOTIFICATION_TYPES, TYPES, ChannelSwitch, default_switches, merge_switches,
)
from billing_notifications.domain.triggers import trigger_for
from tests.e2e.notifications_support import AT, ORG, invoice_synced, payment, payment_succeeded

pytestmark = pytest.mark.timeout(10)


def test_the_twelve_types_of_the_issue_have_defaults_and_an_audience():
    assert set(NOTIFICATION_TYPES) == {
        "payment.succeeded", "payment.failed", "payment.refunded", "payment.cancelled", "payment.charged_back",
        "payment.settlement_failed", "payment.unapplied", "invoice.available", "sync.failed", "sync.stalled",
        "payment_method.added", "integration.connection_failed"}
    defaults = default_switches()
    assert defaults["payment.succeeded"] == ChannelSwitch(email=True, ticket=False)
    assert defaults["invoice.available"] == ChannelSwitch(email=True, ticket=False)
    for staff_type in ("sync.failed", "sync.stalled", "integration.connection_failed"):
        assert TYPES[staff_type].audience == "staff"
        assert defaults[staff_type] == ChannelSwitch(email=False, ticket=True)


def test_a_partial_settings_change_keeps_types_and_channels_not_named():
    merged = merge_switches(default_switches(),
                            {"payment.succeeded": {"ticket": True}, "sync.failed": {"email": True}})
    assert merged["payment.succeeded"] == ChannelSwitch(email=True, ticket=True)
    assert merged["sync.failed"] == ChannelSwitch(email=True, ticket=True)
    assert merged["payment.failed"] == default_switches()["payment.failed"]
    with pytest.raises(KeyError):
        merge_switches(default_switches(), {"payment.applied": {"email": True}})


def test_a_payment_succeeds_once_whatever_event_id_carries_it():
    first, again = payment_succeeded(payment_id="p-1"), payment_succeeded(payment_id="p-1")
    assert first.event_id != again.event_id
    t1, t2 = trigger_for(first), trigger_for(again)
    assert t1 and t2 and (t1.type, t1.dedupe_key) == (t2.type, t2.dedupe_key) == ("payment.succeeded", "p-1")
    assert t1.invoice_ids == ("autotask:12345",)


def test_refunds_and_unapplied_money_notify_once_per_event():
    p = payment()
    one = PaymentRefunded.new(producer="payments", organization_id=ORG, data=p)
    two = PaymentRefunded.new(producer="payments", organization_id=ORG, data=p)
    assert trigger_for(one).dedupe_key != trigger_for(two).dedupe_key
    unapplied = PaymentUnapplied.new(producer="payments", organization_id=ORG, data=p)
    assert trigger_for(unapplied).type == "payment.unapplied"


def test_events_that_notify_nobody():
    assert trigger_for(invoice_synced(number=None)) is None  # not numbered yet: not payable
    assert trigger_for(invoice_synced(status="paid")) is None
    assert trigger_for(PaymentApplied.new(producer="payments", organization_id=ORG, data=payment())) is None


def test_an_invoice_becomes_available_once_per_invoice():
    t = trigger_for(invoice_synced(version=3))
    assert (t.type, t.dedupe_key) == ("invoice.available", "autotask:12345")


def test_a_stall_is_notified_once_per_last_completed_run():
    data = SyncStalledData(integration="autotask", last_completed_at=AT, interval_minutes=60)
    one = trigger_for(SyncStalled.new(producer="notifications", organization_id="system", data=data))
    two = trigger_for(SyncStalled.new(producer="sync", organization_id="system", data=data))
    assert one.dedupe_key == two.dedupe_key == f"system:autotask:{AT.isoformat()}"


def ctx(**kw) -> messages.Context:
    return messages.Context(organization_id=ORG, organization_name="Acme Dental",
                            invoice_numbers={"autotask:12345": "1042"}, **kw)


def test_a_payment_receipt_names_organization_invoice_amount_and_transaction():
    text = messages.render("payment.succeeded", payment(), ctx())
    assert text.subject == "Payment received: 500.00 USD for invoice 1042"
    for fact in ("Hello Acme Dental,", "500.00 USD", "Visa ending 1111", "invoice 1042", "Transaction ID: 10000001"):
        assert fact in text.body
    assert text.title == "Payment received from Acme Dental: 500.00 USD for invoice 1042"
    assert "Transaction ID: 10000001" in text.description


def test_failures_say_why():
    failed = messages.render("payment.failed", payment("failed", failure_reason="card declined"), ctx())
    assert "card declined" in failed.body and "Reason: card declined" in failed.description
    unsettled = messages.render("payment.settlement_failed",
                                payment("cancelled", failure_reason="account overdrawn"), ctx())
    assert "account overdrawn" in unsettled.title
    sync = messages.render("sync.failed", SyncFailedData(integration="quickbooks", run_id="r1", reason="HTTP 503"),
                           ctx())
    assert sync.subject == "QuickBooks Online sync failed: HTTP 503" and sync.body.startswith("Hello,\n")


def test_a_refund_names_the_amount_refunded_this_time():
    p = payment(refund_amount=money("300.00"), applied_amount=money("200.00"), transactions=[
        TransactionRow(type="sale", amount=money("500.00"), at=AT, transaction_id="10000001"),
        TransactionRow(type="refund", amount=money("100.00"), at=AT, transaction_id="10000002"),
        TransactionRow(type="refund", amount=money("200.00"), at=AT, transaction_id="10000003")])
    text = messages.render("payment.refunded", p, ctx())
    assert text.subject == "Refund of 200.00 USD on your payment of 500.00 USD"
    assert "Refunded in total: 300.00 USD" in text.body and "Refund transaction ID: 10000003" in text.body


@pytest.mark.parametrize("kind", NOTIFICATION_TYPES)
def test_every_type_renders_within_ticket_limits(kind):
    data = {
        "invoice.available": invoice_synced().data,
        "payment_method.added": PaymentMethodData(method_id="m1", organization_id=ORG, type="echeck", last4="6789"),
        "sync.failed": SyncFailedData(integration="autotask", run_id="r1", reason="timeout"),
        "sync.stalled": SyncStalledData(integration="autotask", last_completed_at=None, interval_minutes=60),
        "integration.connection_failed": ConnectionFailedData(integration="autotask", reason="401 Unauthorized"),
    }.get(kind) or payment("failed" if kind == "payment.failed" else "succeeded", failure_reason="declined")
    text = messages.render(kind, data, messages.Context(organization_id=ORG))
    assert text.subject and text.body and text.description
    nid = str(uuid.uuid4())
    assert len(tickets.title_with_marker(text.title, nid)) <= tickets.TITLE_MAX


def test_the_ticket_marker_survives_a_long_title():
    nid = str(uuid.uuid4())
    title = tickets.title_with_marker("x" * 400, nid)
    assert len(title) == tickets.TITLE_MAX and title.endswith(tickets.marker(nid))
    assert tickets.marker(nid) in tickets.description_with_marker("y" * 9000, nid)


def test_ticket_company_is_the_autotask_company_of_the_organization():
    assert tickets.company_id("autotask:678", 0) == "678"
    assert tickets.company_id("system", 0) == "0"  # about no client: the MSP's own company
    assert tickets.company_id("quickbooks:12", 5) == "5"


def test_ticket_fields_are_the_same_on_every_attempt():
    created = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    a = tickets.ticket_fields(company="678", title="t", description="d", queue_id=5, issue_type_id=3, priority=2,
                              status=1, created_at=created)
    assert a == tickets.ticket_fields(company="678", title="t", description="d", queue_id=5, issue_type_id=3,
                                      priority=2, status=1, created_at=created)
    assert (a["companyID"], a["queueID"], a["issueType"], a["priority"], a["status"]) == (678, 5, 3, 2, 1)
    without = tickets.ticket_fields(company="678", title="t", description="d", queue_id=None, issue_type_id=None,
                                    priority=2, status=1, created_at=created)
    assert "queueID" not in without and "issueType" not in without


def test_other_event_classes_still_parse_into_triggers():
    method = PaymentMethodAdded.new(producer="payments", organization_id=ORG, data=PaymentMethodData(
        method_id="m1", organization_id=ORG, type="credit_card", brand="visa", last4="4242"))
    assert trigger_for(method).dedupe_key == "m1"
    failed = SyncFailed.new(producer="sync", organization_id="system",
                            data=SyncFailedData(integration="autotask", run_id="r9", reason="x"))
    assert trigger_for(failed).dedupe_key == "system:autotask:r9"
    conn = IntegrationConnectionFailed.new(producer="sync", organization_id="system",
                                           data=ConnectionFailedData(integration="autotask", reason="x"))
    assert trigger_for(conn).dedupe_key == str(conn.event_id)
    unsettled = PaymentSettlementFailed.new(producer="payments", organization_id=ORG, data=payment(payment_id="p9"))
    assert trigger_for(unsettled).dedupe_key == "p9"
    declined = PaymentFailed.new(producer="payments", organization_id=ORG, data=payment("failed", payment_id="p8"))
    assert trigger_for(declined).dedupe_key == "p8" and trigger_for(declined).invoice_ids == ()
