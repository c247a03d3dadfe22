"""The write-back's create key: QuickBooks' `requestid` of an intent to create a payment."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing_sync.service.writeback import create_request_id

INTENT = datetime(2026, 12, 1, 20, 0, 1, 123456, tzinfo=UTC)


def test_every_try_of_one_intent_sends_the_same_requestid_and_a_new_intent_another():
    first = create_request_id("5ccb7c07-240b-4a1f-8237-4f94f3caab70", INTENT)
    assert first == create_request_id("5ccb7c07-240b-4a1f-8237-4f94f3caab70", INTENT)  # a retry, another leader
    assert len(first) <= 50  # QuickBooks' limit
    assert first != create_request_id("5ccb7c07-240b-4a1f-8237-4f94f3caab70", INTENT + timedelta(microseconds=1))
    assert first != create_request_id("a8d21f9a-2422-4573-a6a3-d577a38c5739", INTENT)
