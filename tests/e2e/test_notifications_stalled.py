"""Sync freshness end to end: when runs stop, `sync.stalled` is raised on `billing.sync.v1` and
notified (a PSA ticket by default) once; rebuilding the freshness table does not notify again;
a stall after runs resumed is a new notification."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from billing_shared.events.catalog import BILLING_SYNC
from tests.e2e.notifications_support import (  # noqa: F401 - `stack` is a fixture
    psa_tickets, stack, sync_completed, sync_started,
)
from tests.support import eventually, read_topic

pytestmark = pytest.mark.timeout(120)


async def stalls_on_topic(stack) -> list[dict]:
    records = await read_topic(stack.bootstrap, stack.names(BILLING_SYNC), count=1, timeout=10, settle=0.5)
    return [e for e in (json.loads(r.value) for r in records) if e["event_type"] == "sync.stalled"]


async def test_a_stalled_sync_is_raised_and_notified_once(stack):
    await stack.start(FRESHNESS_MINUTE_SECONDS="1")  # an interval of 1 minute lasts 1 s here
    now = datetime.now(UTC)
    await stack.publish(BILLING_SYNC, sync_started(1, at=now), sync_completed(1, at=now))

    async def notified(count: int):
        rows = await stack.deliveries(type="sync.stalled", status="delivered")
        return len(rows) >= count and rows

    rows = await eventually(lambda: notified(1), timeout=30)
    assert [r["channel"] for r in rows] == ["ticket"]  # staff-facing: a ticket by default, no email
    stalls = await stalls_on_topic(stack)
    assert {s["event_id"] for s in stalls} == {stalls[0]["event_id"]}
    assert stalls[0]["producer"] == "notifications" and stalls[0]["organization_id"] == "system"
    assert stalls[0]["data"]["interval_minutes"] == 1
    assert datetime.fromisoformat(stalls[0]["data"]["last_completed_at"]) == now
    tickets = await psa_tickets(stack.http, stack.psa.url)
    assert len(tickets) == 1 and tickets[0]["companyID"] == 0
    assert tickets[0]["title"].startswith(f"Autotask sync stalled: no completed run since {now:%Y-%m-%d %H:%M} UTC")

    # the faust table is lost: a view under a new name rebuilds it from billing.sync.v1
    stack.system.processes["notifications"].stop()
    await stack.start(FRESHNESS_MINUTE_SECONDS="1", FRESHNESS_APP_ID="notifications-freshness-rebuilt")

    # runs resume, then stop again: a new stall, a new notification. The rebuilt view raises it
    # only after reading everything before it, the first stall included: that one is not doubled.
    await stack.publish(BILLING_SYNC, sync_completed(1, at=datetime.now(UTC)))
    rows = await eventually(lambda: notified(2), timeout=30)
    assert len(rows) == 2
    assert len({s["event_id"] for s in await stalls_on_topic(stack)}) == 2
    assert len(await psa_tickets(stack.http, stack.psa.url)) == 2
    assert len(await stack.deliveries(type="sync.stalled")) == 2
