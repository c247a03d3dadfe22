"""The faust sync-freshness view against the real broker: it raises a stall once while it runs,
and after a restart its table comes back from the changelog and the same stall (same event id)
is raised again rather than lost."""
from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest

from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.events.sync import SyncStalled
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_notifications.config import NotificationsSettings
from billing_notifications.entrypoints.freshness import FreshnessView
from tests.e2e.notifications_support import sync_completed
from tests.support import eventually

pytestmark = pytest.mark.timeout(90)


class CountingView(FreshnessView):
    applied = 0

    def apply(self, table, raw: bytes) -> None:
        self.applied += 1
        super().apply(table, raw)


@contextlib.asynccontextmanager
async def running(view: FreshnessView):
    task = asyncio.create_task(view.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_view_raises_a_stall_once_and_a_restart_does_not_lose_it(infra, topic_prefix, tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)  # the view must not leave a data directory where it was started
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, [names(BILLING_SYNC)])
    settings = NotificationsSettings(kafka_bootstrap_servers=infra.kafka_bootstrap, kafka_topic_prefix=topic_prefix,
                                     freshness_check_seconds=0.2, freshness_minute_seconds=0.5)
    raised: list[SyncStalled] = []

    async def publish(event: SyncStalled) -> None:
        raised.append(event)  # not echoed to the topic: the table never learns it was reported

    producer = make_producer(infra.kafka_bootstrap)
    await producer.start()
    try:
        completed = sync_completed(1, at=datetime.now(UTC))
        await producer.send_and_wait(names(BILLING_SYNC), completed.to_json(), key=b"system")
        first = CountingView(settings, publish)
        async with running(first):
            await eventually(lambda: asyncio.sleep(0, bool(raised)), timeout=30)
            await asyncio.sleep(1.0)  # five more ticks
        assert len(raised) == 1 and raised[0].data.last_completed_at == completed.data.completed_at
        assert first.applied == 1

        second = CountingView(settings, publish)  # the same app: its table comes back from the changelog
        async with running(second) as task:
            await eventually(lambda: asyncio.sleep(0, len(raised) == 2), timeout=30)
            assert not task.done()
        assert second.applied == 0  # the source was not read again
        assert raised[1].event_id == raised[0].event_id  # the same stall; downstream dedupes it
        assert list(tmp_path.iterdir()) == []
    finally:
        await producer.stop()
