"""Sync freshness with faust-streaming: a derived, rebuildable view of `billing.sync.v1`.

A faust table keeps, per (organization, integration), when a run last completed and the
integration's interval (domain/freshness.py). A timer raises `sync.stalled` on `billing.sync.v1`
when no run has completed for twice the interval. The stall event's id is derived from its facts
and the notification is recorded by the ordinary sync consumer (inbox, dedupe key, outbox), so
raising it twice, or rebuilding the table from scratch, never notifies twice; losing the table
loses no notification already raised, and a rebuilt table raises a missed one again.
"""
from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import faust
import structlog
from pydantic import ValidationError

from billing_shared.events import parse_event
from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.events.sync import SyncStalled
from billing_shared.kafka.topics import TopicNames

from billing_notifications.config import NotificationsSettings
from billing_notifications.domain import freshness

log = structlog.get_logger(__name__)
PRODUCER = "notifications"
Publish = Callable[[SyncStalled], Awaitable[None]]


class FreshnessView:
    def __init__(self, settings: NotificationsSettings, publish: Publish,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.names = TopicNames(settings.kafka_topic_prefix)
        self.publish = publish
        self.clock = clock
        self._raised: set[str] = set()

    def build(self) -> faust.App:
        s = self.settings
        for noisy in ("faust", "mode"):  # their INFO lines narrate every start, stop and rebalance
            logging.getLogger(noisy).setLevel(logging.WARNING)
        data_root = Path(tempfile.gettempdir()) / "billing-faust"
        data_root.mkdir(exist_ok=True)  # faust makes only the last level
        app = faust.App(
            self.names(s.freshness_app_id),
            broker=[f"kafka://{host.strip()}" for host in s.kafka_bootstrap_servers.split(",")],
            store="memory://", web_enabled=False, autodiscover=False, loop=asyncio.get_running_loop(),
            topic_partitions=s.kafka_topic_partitions, topic_replication_factor=s.freshness_replication_factor,
            topic_disable_leader=True,
            consumer_auto_offset_reset="earliest",
            # faust makes a data directory even for a memory store; by default in the working directory,
            # which would litter a checkout with one directory per topic prefix. The table lives in Kafka.
            datadir=data_root / "{conf.name}-data",
        )
        source = app.topic(self.names(BILLING_SYNC), key_type=bytes, value_type=bytes,
                           key_serializer="raw", value_serializer="raw")
        table = app.Table("sync_freshness", default=None, partitions=s.kafka_topic_partitions)

        @app.agent(source, name="track_sync_runs")
        async def track(stream: faust.StreamT) -> None:
            async for message in stream.events():
                self.apply(table, message.value)

        @app.timer(s.freshness_check_seconds, name="raise_stalls")
        async def check() -> None:
            try:
                await self.raise_due(table)
            except Exception:  # noqa: BLE001 - the next tick tries again; a timer must not crash the app
                log.exception("raising sync stalls failed")

        return app

    def apply(self, table: faust.Table, raw: bytes) -> None:
        try:
            event = parse_event(BILLING_SYNC, raw)
        except (ValidationError, ValueError):
            return  # the plain sync consumer dead-letters it; the view just skips it
        key = freshness.key_of(event)
        if key is None:
            return
        entry = freshness.observe(table.get(key), event, default_interval=self.settings.default_sync_interval_minutes)
        if entry is not None:
            table[key] = entry

    async def raise_due(self, table: faust.Table) -> int:
        raised = 0
        now = self.clock()
        for _, entry in list(table.items()):
            stall = freshness.due_stall(entry, now, minute_seconds=self.settings.freshness_minute_seconds)
            if stall is None:
                continue
            event_id = freshness.stall_event_id(entry)
            if str(event_id) in self._raised:
                continue  # sent; the table marks it when the event comes back on the topic
            await self.publish(SyncStalled.new(producer=PRODUCER, organization_id=entry["organization_id"],
                                               data=stall, event_id=event_id))
            self._raised.add(str(event_id))
            raised += 1
            log.warning("sync stalled", integration=stall.integration,
                        last_completed_at=str(stall.last_completed_at), interval_minutes=stall.interval_minutes)
        return raised

    async def run(self) -> None:
        """Run the faust app until cancelled; if faust crashes, raise so the supervisor restarts it."""
        app = self.build()
        await app.start()
        log.info("sync freshness view started", app_id=app.conf.id)
        try:
            while not app.should_stop:
                await asyncio.sleep(0.5)
            raise RuntimeError(f"the sync freshness view stopped: {app.crash_reason!r}")
        finally:
            await app.stop()
