"""Telling a reused accounting id from the linked object, and the staff notice of a skipped record."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from billing_notifications.domain import messages
from billing_notifications.domain.triggers import trigger_for
from billing_shared.events.sync import SyncRecordFailed, SyncRecordFailedData
from billing_sync.domain.accounting_links import created_at, marker, marker_owner, same_object

pytestmark = pytest.mark.timeout(10)

LINKED_AT = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def qbo(created: datetime, note: str | None = None) -> dict:
    return {"Id": "1", "MetaData": {"CreateTime": created.isoformat()}, "PrivateNote": note}


def test_an_id_read_again_names_the_linked_object_only_with_its_create_time_and_marker():
    assert same_object("autotask:501", LINKED_AT, qbo(LINKED_AT, marker("autotask:501")))
    # reset books: the same id, created later
    assert not same_object("autotask:501", LINKED_AT, qbo(datetime(2026, 12, 1, tzinfo=UTC)))
    # the same id created for another invoice of ours (create time not recorded for old links)
    assert not same_object("autotask:501", None, qbo(LINKED_AT, marker("autotask:503")))
    assert same_object("autotask:501", None, qbo(LINKED_AT, "typed by the accountant"))
    assert marker_owner({"PrivateNote": "billing-link invoice autotask:77 (do not edit)"}) == "autotask:77"
    assert created_at({"MetaData": {"CreateTime": "2026-11-01T02:00:00-07:00"}}) == LINKED_AT


def record_failed(run_id: str, reason: str) -> SyncRecordFailed:
    return SyncRecordFailed.new(producer="sync", organization_id="system", data=SyncRecordFailedData(
        integration="quickbooks", run_id=run_id, entity="numbering", record_id="autotask:501", reason=reason))


def test_a_skipped_record_is_one_sync_ticket_per_record_and_reason_not_one_per_run():
    first = trigger_for(record_failed(str(uuid.uuid4()), "QuickBooks: fault 6000"))
    next_run = trigger_for(record_failed(str(uuid.uuid4()), "QuickBooks: fault 6000"))
    other_reason = trigger_for(record_failed(str(uuid.uuid4()), "QuickBooks: fault 6140"))
    assert first is not None and first.type == "sync.failed"  # switched with sync trouble
    assert first.dedupe_key == next_run.dedupe_key != other_reason.dedupe_key
    text = messages.render(first.type, first.facts, messages.Context(organization_id="system"))
    assert text.subject == "QuickBooks Online sync skipped invoice autotask:501: QuickBooks: fault 6000"
    assert "The next run tries it again." in text.body
