"""The outbox relay against a real broker and database, under concurrent writers and relays."""
from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict

import pytest

from billing_shared.db import create_pool
from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.events.sync import SyncProgress, SyncProgressData
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_shared.migrations import migrate
from billing_shared.outbox import UnitOfWork
from billing_shared.relay import OutboxRelay
from tests.support import eventually, read_topic

pytestmark = pytest.mark.timeout(120)

PER_WRITER = 150


def progress(writer: str, key: str, seq: int) -> SyncProgress:
    return SyncProgress.new(producer="test", organization_id=key,
                            data=SyncProgressData(integration="autotask", run_id=writer, entity=key, fetched=seq))


async def write(uow: UnitOfWork, writer: str, keys: list[str]) -> None:
    """One event per transaction; some transactions stay open a while after taking their outbox id,
    so later ids commit first: exactly what makes an `id > last_seen` relay skip rows."""
    for seq in range(PER_WRITER):
        async with uow.begin() as tx:
            tx.publish(BILLING_SYNC, progress(writer, keys[seq % len(keys)], seq))
            await tx.flush()
            if random.random() < 0.3:
                await asyncio.sleep(random.uniform(0.001, 0.02))


async def test_concurrent_writers_and_relays_never_skip_a_row_or_reorder_a_key(infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all(), partitions=3)
    pool = await create_pool(database_url, "relaytest", max_size=12)
    await migrate(pool, "relaytest", None)
    producers = [make_producer(infra.kafka_bootstrap) for _ in range(2)]
    for p in producers:
        await p.start()
    relays = [OutboxRelay(pool, p, schema="relaytest", batch_size=25, poll_seconds=0.005) for p in producers]
    relay_tasks = [asyncio.create_task(r.run()) for r in relays]
    uow = UnitOfWork(pool, names, on_commit=lambda: [r.wake() for r in relays])
    try:
        await asyncio.gather(
            write(uow, "writer-a", ["org-a", "org-shared"]),
            write(uow, "writer-b", ["org-b", "org-shared"]),
        )
        records = await read_topic(infra.kafka_bootstrap, names(BILLING_SYNC), count=2 * PER_WRITER, timeout=60,
                                   settle=1.0)
    finally:
        for t in relay_tasks:
            t.cancel()
        await asyncio.gather(*relay_tasks, return_exceptions=True)
        for p in producers:
            await p.stop()

    events = [json.loads(r.value) for r in records]
    assert len(events) == 2 * PER_WRITER, "a row was published twice"
    assert len({e["event_id"] for e in events}) == 2 * PER_WRITER, "a row was skipped"
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    seen: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r, e in zip(records, events, strict=True):
        assert r.key.decode() == e["organization_id"]
        seen[(e["data"]["run_id"], e["organization_id"])].append(e["data"]["fetched"])
    for (writer, key), seqs in seen.items():
        assert seqs == sorted(seqs), f"{writer}'s events of key {key} arrived out of order: {seqs}"
    assert sum(len(v) for v in seen.values()) == 2 * PER_WRITER
    await pool.close()


async def test_the_relay_purges_published_rows_past_the_retention_and_keeps_the_rest(infra, database_url,
                                                                                    topic_prefix):
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all(), partitions=3)
    pool = await create_pool(database_url, "purgetest", max_size=4)
    await migrate(pool, "purgetest", None)
    producer = make_producer(infra.kafka_bootstrap)
    await producer.start()
    relay = OutboxRelay(pool, producer, schema="purgetest", poll_seconds=0.01, retention_days=7)
    uow = UnitOfWork(pool, names, on_commit=relay.wake)
    try:
        for seq in range(3):
            async with uow.begin() as tx:
                tx.publish(BILLING_SYNC, progress("w", "org", seq))
        async with pool.acquire() as conn:
            old = await conn.fetch("SELECT id FROM outbox ORDER BY id LIMIT 2")
            # two rows published long ago, one not published yet
            await conn.execute("UPDATE outbox SET published_at = now() - interval '8 days' WHERE id = ANY($1::bigint[])",
                               [r["id"] for r in old])
        task = asyncio.create_task(relay.run())
        try:
            async def settled() -> bool:
                async with pool.acquire() as conn:
                    left = await conn.fetch("SELECT published_at FROM outbox")
                return len(left) == 1 and left[0]["published_at"] is not None
            await eventually(settled, timeout=20)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    finally:
        await producer.stop()
        await pool.close()


async def test_the_backlog_gauge_counts_the_rows_waiting_when_a_pass_starts(infra, database_url, topic_prefix):
    """`billing_outbox_backlog` (on /metrics, read by `billing-link status`) was only ever set to 0; a pass with a
    full batch counts what waits beyond it."""
    from prometheus_client import REGISTRY

    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all(), partitions=3)
    pool = await create_pool(database_url, "backlogtest", max_size=4)
    await migrate(pool, "backlogtest", None)
    producer = make_producer(infra.kafka_bootstrap)
    await producer.start()
    relay = OutboxRelay(pool, producer, schema="backlogtest", batch_size=10)
    uow = UnitOfWork(pool, names)

    def backlog() -> float | None:
        return REGISTRY.get_sample_value("billing_outbox_backlog", {"schema": "backlogtest"})
    try:
        for seq in range(25):
            async with uow.begin() as tx:
                tx.publish(BILLING_SYNC, progress("writer", "org-a", seq))
        seen = []
        for _ in range(4):
            await relay.publish_once()
            seen.append(backlog())
    finally:
        await producer.stop()
        await pool.close()
    assert seen == [25, 15, 5, 0]
