"""Notifications' domain: which events notify, once per what, what each message says, the
channel switches and the ticket marker. No I/O."""
from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from billing_shared.events.autopay import AutopayFailed, AutopayNoticeData, AutopaySucceeded, AutopayUpcoming
from billing_shared.events.payments import PaymentMethodSummary
from billing_shared.events.portal import InvitationData
from billing_shared.events.reconciliation import ReconciliationCompleted, ReconciliationCompletedData

from billing_shared.events.payments import (
    InvoiceOverAppliedData, PaymentApplied, PaymentFailed, PaymentMethodAdded, PaymentMethodData, PaymentRefunded,
    PaymentSettlementFailed, PaymentSucceeded, PaymentUnapplied, TransactionRow,
)
from billing_shared.events.invoices import InvoiceSynced
from billing_shared.events.sync import (
    ConnectionFailedData, IntegrationConnectionFailed, SyncFailed, SyncFailedData, SyncStalled, SyncStalledData,
)
from billing_shared.money import money
from billing_notifications.domain import messages, tickets
from billing_notifications.domain.catalog import (
    NOTIFICATION_TYPES, TYPES, ChannelSwitch, default_switches, merge_switches,
)
from billing_notifications.config import NotificationsSettings
from billing_notifications.domain.reminders import PastDue
from billing_notifications.domain.triggers import integrations_working, trigger_for
from billing_notifications.domain.webhooks import SubscriptionDisabled
from tests.e2e.notifications_support import AT, ORG, invoice_synced, payment, payment_succeeded

pytestmark = pytest.mark.timeout(10)


def test_the_twelve_types_of_the_issue_have_defaults_and_an_audience():
    assert set(NOTIFICATION_TYPES) == {
        "payment.succeeded", "payment.failed", "payment.refunded", "payment.cancelled", "payment.charged_back",
        "payment.settlement_failed", "payment.unapplied", "invoice.available", "sync.failed", "sync.stalled",
        "payment_method.added", "integration.connection_failed",
        # beyond the issue's twelve, for staff: a refund failed at settlement, an invoice total below its payments
        "payment.refund_failed", "invoice.over_applied",
        # and an invitation to the client portal, to the address invited
        "portal.invitation",
        # past-due reminders (issue 12)
        "invoice.past_due",
        # a reconciliation that found drift (issue 12)
        "reconciliation.drift_found",
        # autopay (issue 12): a charge coming, made, declined
        "autopay.upcoming", "autopay.succeeded", "autopay.failed",
        # an outbound webhook subscription disabled after failing past its retry horizon (issue 14)
        "webhook.subscription_disabled"}
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


def test_an_autopay_charge_is_told_by_its_autopay_notice_not_by_a_second_receipt():
    for cls, status in ((PaymentSucceeded, "succeeded"), (PaymentFailed, "failed")):
        by_hand = payment(status, failure_reason="declined" if status == "failed" else None)
        by_autopay = by_hand.model_copy(update={"origin": "autopay"})
        assert trigger_for(cls.new(producer="payments", organization_id=ORG, data=by_autopay)) is None, status
        assert trigger_for(cls.new(producer="payments", organization_id=ORG, data=by_hand)) is not None, status


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



def test_a_settlement_failure_after_a_gateway_refund_tells_staff_the_money_went_out():
    """An eCheck returned after part of it was refunded at the gateway: the payment is cancelled (all
    amounts 0.00, DOMAIN.md), but the refund went to the client; the ticket says so and what to do. Found
    by the chaos harness (a refund, then the sale's settlement failed)."""
    returned = payment("cancelled", failure_reason="R01 insufficient funds", transactions=[
        TransactionRow(type="sale", amount=money("500.00"), at=AT, transaction_id="10000001"),
        TransactionRow(type="refund", amount=money("105.00"), at=AT, transaction_id="10000002"),
        TransactionRow(type="refund", amount=money("20.00"), at=AT, transaction_id="10000003",
                       failure_reason="refund returned")])
    text = messages.render("payment.settlement_failed", returned, ctx())
    assert "105.00 USD of it had been refunded at the gateway" in text.description
    assert "Recover it from the client or write it off." in text.description
    assert "refunded at the gateway" not in text.body  # the client's email is about their payment only
    plain = messages.render("payment.settlement_failed", payment("cancelled", failure_reason="R01"), ctx())
    assert "refunded at the gateway" not in plain.description

def test_a_refund_names_the_amount_refunded_this_time():
    p = payment(refund_amount=money("300.00"), applied_amount=money("200.00"), transactions=[
        TransactionRow(type="sale", amount=money("500.00"), at=AT, transaction_id="10000001"),
        TransactionRow(type="refund", amount=money("100.00"), at=AT, transaction_id="10000002"),
        TransactionRow(type="refund", amount=money("200.00"), at=AT, transaction_id="10000003")])
    text = messages.render("payment.refunded", p, ctx())
    assert text.subject == "Refund of 200.00 USD on your payment of 500.00 USD"
    assert "Refunded in total: 300.00 USD" in text.body and "Refund transaction ID: 10000003" in text.body


COMPLETED = ReconciliationCompleted.new(producer="payments", organization_id="system", data=ReconciliationCompletedData(
    run_id="r-1", trigger="nightly", period_start=datetime(2026, 11, 30, tzinfo=UTC),
    period_end=datetime(2026, 12, 1, tzinfo=UTC), completed_at=datetime(2026, 12, 1, 2, tzinfo=UTC), drift_count=3,
    by_code={"accounting_payment_missing": 1, "gateway_sale_unknown_to_ledger": 2}))


def test_a_reconciliation_notifies_staff_once_per_run_and_only_when_something_disagrees():
    trigger = trigger_for(COMPLETED)
    assert (trigger.type, trigger.dedupe_key) == ("reconciliation.drift_found", "r-1")
    assert TYPES["reconciliation.drift_found"].audience == "staff"
    clean = COMPLETED.model_copy(update={"data": COMPLETED.data.model_copy(update={"drift_count": 0, "by_code": {}})})
    assert trigger_for(clean) is None
    unchecked = clean.model_copy(update={"data": clean.data.model_copy(update={"incomplete": ["books"]})})
    assert trigger_for(unchecked).type == "reconciliation.drift_found"
    text = messages.render("reconciliation.drift_found", COMPLETED.data, messages.Context(organization_id="system"))
    assert text.subject == "Reconciliation of 2026-11-30: 3 disagreements"
    assert "gateway sale unknown to ledger: 2" in text.body


NOTICE = AutopayNoticeData(
    attempt_id="a-1", attempt_number=1, organization_id=ORG, invoice_id="autotask:12345", invoice_number="1042",
    currency="USD", amount=money("500.00"), charge_on=date(2026, 12, 1),
    method=PaymentMethodSummary(type="credit_card", brand="visa", last4="1111"))


def test_autopay_notifies_once_per_attempt_and_an_upcoming_charge_once_per_invoice_and_rule():
    failed = NOTICE.model_copy(update={"reason": "card declined", "next_attempt_on": date(2026, 12, 4)})
    one = trigger_for(AutopayFailed.new(producer="payments", organization_id=ORG, data=failed))
    again = trigger_for(AutopayFailed.new(producer="payments", organization_id=ORG, data=failed))
    assert (one.type, one.dedupe_key, one.invoice_ids) == ("autopay.failed", "a-1", ("autotask:12345",))
    assert again.dedupe_key == "a-1"  # the same attempt re-published: the same notification
    retry = failed.model_copy(update={"attempt_id": "a-2", "attempt_number": 2})
    assert trigger_for(AutopayFailed.new(producer="payments", organization_id=ORG, data=retry)).dedupe_key == "a-2"
    paid = trigger_for(AutopaySucceeded.new(producer="payments", organization_id=ORG, data=NOTICE))
    assert (paid.type, paid.dedupe_key) == ("autopay.succeeded", "a-1")
    notice = NOTICE.model_copy(update={"attempt_id": "upcoming:autotask:12345:on_due_date"})
    upcoming = [trigger_for(AutopayUpcoming.new(producer="payments", organization_id=ORG, data=notice))
                for _ in range(2)]
    assert {(t.type, t.dedupe_key) for t in upcoming} == {("autopay.upcoming", "upcoming:autotask:12345:on_due_date")}
    assert (TYPES["autopay.failed"].audience, TYPES["autopay.failed"].default) == \
        ("client", ChannelSwitch(email=True, ticket=True))
    assert default_switches()["autopay.upcoming"] == default_switches()["autopay.succeeded"] == \
        ChannelSwitch(email=True, ticket=False)


def test_autopay_messages_say_when_what_and_by_which_method_and_a_last_decline_says_what_to_do():
    upcoming = messages.render("autopay.upcoming", NOTICE, ctx())
    assert "Your invoice 1042 of 500.00 USD will be charged automatically on 2026-12-01 to Visa ending 1111." \
        in upcoming.body
    assert upcoming.body.startswith("Hello Acme Dental,")
    receipt = messages.render("autopay.succeeded", NOTICE.model_copy(update={"payment_id": "p-7"}), ctx())
    assert receipt.subject == "Automatic payment received: 500.00 USD for invoice 1042"
    assert "Payment ID: p-7" in receipt.body and "Visa ending 1111" in receipt.body
    retried = messages.render("autopay.failed", NOTICE.model_copy(update={
        "reason": "insufficient funds", "next_attempt_on": date(2026, 12, 4)}), ctx())
    assert "did not go through: insufficient funds." in retried.body
    assert "We will try again on 2026-12-04." in retried.body and "no more" not in retried.body
    assert "Reason: insufficient funds" in retried.description and "2026-12-04" in retried.description
    last = messages.render("autopay.failed", NOTICE.model_copy(update={
        "reason": "card expired", "final": True, "attempt_number": 3}), ctx())
    assert last.subject == "Automatic payment not completed: 500.00 USD for invoice 1042 (no more retries)"
    assert "no more automatic retries will be made" in last.body
    assert "Please pay invoice 1042 in the client portal" in last.body and "try again on" not in last.body
    assert "card expired" in last.title and "autopay has stopped for this invoice" in last.description
    unnumbered = messages.render("autopay.succeeded", NOTICE.model_copy(update={"invoice_number": None}), ctx())
    assert "for invoice 1042" in unnumbered.subject  # the number the projection knows


@pytest.mark.parametrize("kind", NOTIFICATION_TYPES)
def test_every_type_renders_within_ticket_limits(kind):
    data = {
        "invoice.available": invoice_synced().data,
        "invoice.past_due": PastDue(invoice_id="autotask:1", invoice_number="1042", currency="USD",
                                    balance=money("300.00"), due_on=date(2026, 11, 1), days_past_due=7, step=7),
        "payment_method.added": PaymentMethodData(method_id="m1", organization_id=ORG, type="echeck", last4="6789"),
        "sync.failed": SyncFailedData(integration="autotask", run_id="r1", reason="timeout"),
        "sync.stalled": SyncStalledData(integration="autotask", last_completed_at=None, interval_minutes=60),
        "integration.connection_failed": ConnectionFailedData(integration="autotask", reason="401 Unauthorized"),
        "invoice.over_applied": InvoiceOverAppliedData(
            invoice_id="autotask:1", organization_id=ORG, currency="USD", total=money("400.00"),
            applied=money("500.00"), over_by=money("100.00"), source_version=2),
        "reconciliation.drift_found": COMPLETED.data,
        "webhook.subscription_disabled": SubscriptionDisabled(
            subscription_id=str(uuid.uuid4()), url="https://erp.example/" + "h" * 1980, reason="HTTP 503",
            failing_since=AT, message_id=str(uuid.uuid4()), event_type="payment.succeeded"),
        "autopay.upcoming": NOTICE,
        "autopay.succeeded": NOTICE.model_copy(update={"payment_id": "p-1"}),
        "autopay.failed": NOTICE.model_copy(update={"reason": "card declined " * 40, "final": True}),
        "portal.invitation": InvitationData(
            invitation_id="i1", organization_id=ORG, contact_id="autotask:901", email="ap@acme.example",
            name="Ada Payer", link="https://portal.msp.example/invitations/abc", invited_by="admin@msp.example",
            expires_at=datetime(2026, 12, 4, tzinfo=UTC)),
    }.get(kind) or payment("failed" if kind == "payment.failed" else "succeeded", failure_reason="declined")
    text = messages.render(kind, data, messages.Context(organization_id=ORG))
    assert text.subject and text.body and text.description
    nid = str(uuid.uuid4())
    assert len(tickets.title_with_marker(text.title, nid)) <= tickets.TITLE_MAX


def test_an_invitation_goes_to_the_person_invited_with_the_link():
    invite = InvitationData(invitation_id="i1", organization_id=ORG, contact_id="autotask:901",
                            email="ap@acme.example", name="Ada Payer", link="https://portal.msp.example/invitations/abc",
                            invited_by="admin@msp.example", expires_at=datetime(2026, 12, 4, tzinfo=UTC))
    text = messages.render("portal.invitation", invite, messages.Context(organization_id=ORG, organization_name="Acme"))
    assert text.body.startswith("Hello Ada Payer,") and "https://portal.msp.example/invitations/abc" in text.body
    assert TYPES["portal.invitation"].audience == "invitee"


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
    assert trigger_for(conn, episode=3).dedupe_key == "system:autotask:episode-3"
    unsettled = PaymentSettlementFailed.new(producer="payments", organization_id=ORG, data=payment(payment_id="p9"))
    assert trigger_for(unsettled).dedupe_key == "p9"
    declined = PaymentFailed.new(producer="payments", organization_id=ORG, data=payment("failed", payment_id="p8"))
    assert trigger_for(declined).dedupe_key == "p8" and trigger_for(declined).invoice_ids == ()


def test_the_settlement_failure_says_what_happened_to_the_payment():
    """With auto-cancel on the payment arrives cancelled; with it off it stays succeeded (with the
    failure reason) and its invoices stay paid: the message must not claim a cancellation."""
    cancelled = messages.render("payment.settlement_failed",
                                payment("cancelled", failure_reason="account overdrawn"), ctx())
    assert "It has been cancelled and the invoices it paid are open again." in cancelled.body
    assert "failed to settle and was cancelled: account overdrawn" in cancelled.description

    kept = messages.render("payment.settlement_failed", payment("succeeded", failure_reason="account overdrawn"),
                           ctx())
    for text in (kept.body, kept.description):
        assert "account overdrawn" in text
        assert "has been cancelled" not in text and "was cancelled" not in text and "open again" not in text
    assert "It has not been cancelled: the invoices it paid stay marked as paid for now" in kept.body
    assert "It was not cancelled (automatic cancellation of unsettled payments is off)" in kept.description
    assert "its invoices stay paid" in kept.description
    assert kept.subject == cancelled.subject == "Payment could not be settled: 500.00 USD"


def connection_failed(integration: str = "autotask") -> IntegrationConnectionFailed:
    return IntegrationConnectionFailed.new(producer="sync", organization_id="system",
                                           data=ConnectionFailedData(integration=integration, reason="401"))


def test_connection_failures_of_one_episode_are_one_notification():
    one, two = trigger_for(connection_failed(), episode=1), trigger_for(connection_failed(), episode=1)
    assert one.dedupe_key == two.dedupe_key == "system:autotask:episode-1"
    assert trigger_for(connection_failed(), episode=2).dedupe_key == "system:autotask:episode-2"
    assert trigger_for(connection_failed("quickbooks"), episode=1).dedupe_key == "system:quickbooks:episode-1"


def test_a_completed_autotask_run_shows_both_integrations_work():
    from tests.e2e.notifications_support import sync_completed

    assert integrations_working(sync_completed(at=AT).data) == ("autotask", "quickbooks")


def issued(days_before: int, *, published: datetime = AT, **kw) -> InvoiceSynced:
    event = invoice_synced(**kw)
    data = event.data.model_copy(update={"issued_on": published.date() - timedelta(days=days_before)})
    return event.model_copy(update={"data": data, "occurred_at": published})


def test_an_invoice_issued_long_before_the_sync_saw_it_is_not_announced():
    """Go-live: the first full sync publishes every historical open invoice."""
    assert trigger_for(issued(31), invoice_max_age_days=30) is None
    assert trigger_for(issued(30), invoice_max_age_days=30).type == "invoice.available"
    assert trigger_for(issued(400), invoice_max_age_days=None).type == "invoice.available"  # no limit
    assert trigger_for(issued(3), invoice_max_age_days=0) is None
    # judged against when the sync published it, not when this consumer got to it
    late = issued(10, published=datetime(2026, 1, 10, tzinfo=UTC))
    assert late.data.issued_on == date(2025, 12, 31) and trigger_for(late, invoice_max_age_days=30) is not None


def test_the_invoice_age_setting_defaults_to_30_days_and_can_be_switched_off(monkeypatch):
    assert NotificationsSettings().invoice_available_max_age_days == 30
    for off in ("", "null", "None"):
        monkeypatch.setenv("INVOICE_AVAILABLE_MAX_AGE_DAYS", off)
        assert NotificationsSettings().invoice_available_max_age_days is None
    monkeypatch.setenv("INVOICE_AVAILABLE_MAX_AGE_DAYS", "90")
    assert NotificationsSettings().invoice_available_max_age_days == 90
