"""Sync freshness: a stall is due after twice the interval without a completed run, raised once per
last completed run, with an event id that is the same however often it is raised."""
from __future__ import annotations

from datetime import timedelta

import pytest

from billing_shared.events.sync import SyncStalled
from billing_notifications.config import NotificationsSettings
from billing_notifications.domain import freshness
from billing_notifications.entrypoints.freshness import FreshnessView
from tests.e2e.notifications_support import AT, sync_completed, sync_started

pytestmark = pytest.mark.timeout(10)


def test_no_stall_within_twice_the_interval():
    entry = freshness.observe(None, sync_completed(60, at=AT), default_interval=30)
    assert entry["interval_minutes"] == 60 and entry["last_completed_at"] == AT.isoformat()
    assert freshness.due_stall(entry, AT + timedelta(minutes=120)) is None
    stall = freshness.due_stall(entry, AT + timedelta(minutes=121))
    assert stall is not None and (stall.last_completed_at, stall.interval_minutes) == (AT, 60)


def test_a_completed_run_moves_the_baseline_and_an_older_one_does_not():
    entry = freshness.observe(None, sync_completed(60, at=AT), default_interval=60)
    later = freshness.observe(entry, sync_completed(60, at=AT + timedelta(hours=2)), default_interval=60)
    assert later["last_completed_at"] == (AT + timedelta(hours=2)).isoformat()
    assert freshness.observe(later, sync_completed(60, at=AT), default_interval=60) is None  # no change
    assert freshness.due_stall(later, AT + timedelta(minutes=200)) is None


def test_an_integration_that_never_completes_stalls_from_its_first_start():
    entry = freshness.observe(None, sync_started(1, at=AT), default_interval=60)
    assert entry["last_completed_at"] is None and entry["interval_minutes"] == 1
    stall = freshness.due_stall(entry, AT + timedelta(minutes=3))
    assert stall is not None and stall.last_completed_at is None


def test_a_stall_seen_on_the_topic_is_not_raised_again_until_runs_resume():
    entry = freshness.observe(None, sync_completed(1, at=AT), default_interval=60)
    stall = freshness.due_stall(entry, AT + timedelta(minutes=5))
    event = SyncStalled.new(producer="notifications", organization_id="system", data=stall,
                            event_id=freshness.stall_event_id(entry))
    seen = freshness.observe(entry, event, default_interval=60)
    assert freshness.due_stall(seen, AT + timedelta(minutes=50)) is None
    resumed = freshness.observe(seen, sync_completed(1, at=AT + timedelta(minutes=51)), default_interval=60)
    assert freshness.due_stall(resumed, AT + timedelta(minutes=54)) is not None
    assert freshness.stall_event_id(resumed) != freshness.stall_event_id(entry)


def test_the_stall_event_id_is_derived_from_its_facts():
    a = freshness.observe(None, sync_completed(1, at=AT), default_interval=60)
    b = freshness.observe(None, sync_completed(1, at=AT), default_interval=60)
    assert freshness.stall_event_id(a) == freshness.stall_event_id(b)


async def test_the_view_raises_each_stall_once_even_when_its_timer_races_the_topic():
    published: list[SyncStalled] = []

    async def publish(event: SyncStalled) -> None:
        published.append(event)

    now = AT + timedelta(minutes=10)
    view = FreshnessView(NotificationsSettings(), publish, clock=lambda: now)
    table: dict = {}  # a faust table is a mapping; the view's logic needs no broker
    view.apply(table, sync_completed(1, at=AT).to_json())
    view.apply(table, b"not json")  # skipped: the plain consumer dead-letters it
    assert await view.raise_due(table) == 1
    assert await view.raise_due(table) == 0  # the timer ticks before the stall comes back on the topic
    view.apply(table, published[0].to_json())
    assert await view.raise_due(table) == 0
    assert published[0].data.last_completed_at == AT and published[0].organization_id == "system"

    rebuilt = FreshnessView(NotificationsSettings(), publish, clock=lambda: now)  # a lost table, rebuilt
    table = {}
    rebuilt.apply(table, sync_completed(1, at=AT).to_json())
    await rebuilt.raise_due(table)
    assert len(published) == 2 and published[1].event_id == published[0].event_id
