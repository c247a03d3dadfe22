"""Outbound webhooks' pure rules: the retry schedule, the ordering rule, event types, URLs, secrets, and the
staff notification of a disabled subscription."""
from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from billing_notifications.domain import messages, tickets
from billing_notifications.domain.catalog import TYPES, default_switches
from billing_notifications.domain.triggers import subscription_disabled
from billing_notifications.domain.webhooks import (
    EVENT_TYPES, TOPICS, LaneHead, RetryPolicy, SubscriptionDisabled, new_secret, sendable, unknown_types, url_problem,
)

pytestmark = pytest.mark.timeout(10)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
A, B = uuid.uuid4(), uuid.uuid4()


def test_backoff_doubles_from_the_base_to_the_cap_and_gives_up_past_the_horizon():
    policy = RetryPolicy(base_seconds=5, max_seconds=3600, horizon_seconds=3 * 86400)
    assert [policy.delay(n) for n in range(1, 12)] == [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]
    assert policy.delay(10_000) == 3600  # no overflow however long it fails
    assert not policy.gives_up(NOW - timedelta(days=3) + timedelta(seconds=1), NOW)
    assert policy.gives_up(NOW - timedelta(days=3), NOW)
    # three days of failures at this schedule: about 80 attempts before the subscription is disabled
    elapsed, attempts = 0.0, 0
    while elapsed < 3 * 86400:
        attempts += 1
        elapsed += policy.delay(attempts)
    assert 75 <= attempts <= 85


def head(subscription: uuid.UUID, org: str, seq: int, due_in: float = 0) -> LaneHead:
    return LaneHead(subscription, org, seq, NOW + timedelta(seconds=due_in))


def test_only_the_oldest_undelivered_message_of_a_lane_goes_and_only_when_due():
    pending = [head(A, "org1", 5), head(A, "org1", 3, due_in=30),  # org1's oldest waits for its backoff
               head(A, "org2", 4), head(A, "org2", 9),
               head(B, "org1", 7), head(B, "org1", 6)]
    chosen = sendable(pending, NOW)
    assert [(h.subscription_id, h.organization_id, h.seq) for h in chosen] == [(A, "org2", 4), (B, "org1", 6)]


def test_a_lane_being_delivered_is_not_started_twice_and_room_bounds_the_lanes():
    pending = [head(A, "org1", 1), head(A, "org2", 2), head(B, "org1", 3)]
    assert [h.seq for h in sendable(pending, NOW, busy={(A, "org1")})] == [2, 3]
    assert [h.seq for h in sendable(pending, NOW, room=2)] == [1, 2]
    assert sendable(pending, NOW, room=0) == []


def test_event_types_are_those_of_the_billing_topics_and_unknown_ones_are_named():
    assert "upstream.invoices.v1" not in TOPICS and all(t.startswith("billing.") for t in TOPICS)
    assert {"payment.succeeded", "invoice.synced", "sync.completed", "notification.created",
            "invitation.sent"} <= set(EVENT_TYPES)
    assert "invoice.upserted" not in EVENT_TYPES  # upstream's own
    assert unknown_types(["payment.succeeded", "payment.exploded", "nope", "nope"]) == ["payment.exploded", "nope"]
    assert unknown_types(EVENT_TYPES) == []


@pytest.mark.parametrize("url, ok", [
    ("https://erp.example/hooks", True), ("http://127.0.0.1:8080/x?y=1", True),
    ("ftp://erp.example/hooks", False), ("erp.example/hooks", False), ("https://", False),
    ("https://erp.example/" + "a" * 1981, False), ("https://erp.example/" + "a" * 1980, True),
])
def test_a_subscription_url_is_http_or_https_within_2000_characters(url, ok):
    assert (url_problem(url) is None) == ok


def test_a_secret_is_whsec_and_24_random_bytes():
    one, two = new_secret(), new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(base64.b64decode(one.removeprefix("whsec_"))) == 24


def test_a_disabled_subscription_is_a_staff_ticket_once_per_disabling():
    assert TYPES["webhook.subscription_disabled"].audience == "staff"
    assert default_switches()["webhook.subscription_disabled"].channels() == ["ticket"]
    facts = SubscriptionDisabled(subscription_id=str(A), url="https://erp.example/hooks", reason="HTTP 503",
                                 failing_since=NOW - timedelta(days=3), message_id=str(uuid.uuid4()),
                                 event_type="payment.succeeded")
    trigger = subscription_disabled(facts)
    again = subscription_disabled(facts.model_copy(update={"failing_since": NOW}))
    assert trigger.type == "webhook.subscription_disabled" and trigger.organization_id == "system"
    assert trigger.dedupe_key != again.dedupe_key and trigger.source_event_id == facts.message_id
    text = messages.render(trigger.type, facts, messages.Context(organization_id="system"))
    assert "https://erp.example/hooks" in text.description and "HTTP 503" in text.description
    assert len(tickets.title_with_marker(text.title, str(uuid.uuid4()))) <= tickets.TITLE_MAX
