"""The outbox relay: publishes pending outbox rows in id order, then marks them published.

One relay per schema is active at a time (a session advisory lock), which is what keeps per-key order:
rows are read in id order, sent through one idempotent producer (which keeps partition order and
never leaves a gap), and marked only after every send of the batch is acknowledged. A failed batch is
sent again in full; consumers drop the duplicates by event_id. The relay wakes when this process
commits events and also polls, for rows written by other replicas.
"""
from __future__ import annotations

import asyncio
import contextlib
import time

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from billing_shared.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED

log = structlog.get_logger(__name__)


class OutboxRelay:
    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        schema: str,
        batch_size: int = 2000,
        poll_seconds: float = 0.25,
        retention_days: int = 7,
        purge_every_seconds: float = 3600.0,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.schema = schema
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retention_days = retention_days
        self.purge_every_seconds = purge_every_seconds
        self._next_purge = 0.0  # the leader purges published rows older than the retention, now and then
        self._next_count, self._backlog = 0.0, 0  # the backlog is counted at most once a second (backlog_at)
        self._wake = asyncio.Event()
        self._leader: asyncpg.Connection | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.1
        try:
            while True:
                try:
                    if not await self._hold_leadership():
                        await self._sleep(max(self.poll_seconds, 1.0))
                        continue
                    sent = await self.publish_once()
                    await self._purge_when_due()
                    backoff = 0.1
                    if sent < self.batch_size:
                        await self._sleep(self.poll_seconds)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("outbox relay failed; retrying", backoff=backoff)
                    await self._drop_leadership()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
        finally:
            await self._drop_leadership()

    async def publish_once(self) -> int:
        """Publish one batch of pending rows; returns how many were sent."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT id, topic, key, payload FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT $1",
                self.batch_size,
            )
        OUTBOX_BACKLOG.labels(self.schema).set(await self._backlog_at(len(rows)))
        if not rows:
            return 0
        await asyncio.gather(*[ack for topic, partition, group in await self._by_partition(rows)
                               for ack in await self._send_in_batches(topic, partition, group)])
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
            )
        OUTBOX_PUBLISHED.labels(self.schema).inc(len(rows))
        self._backlog -= len(rows)
        return len(rows)

    async def _backlog_at(self, fetched: int) -> int:
        """The rows waiting as this pass begins: what it fetched, or with a full batch (more may wait) a count of
        the pending rows, taken at most once a second while a backlog lasts (counting every pass of a long
        backlog would slow its draining); between counts, the last count less what was sent since."""
        if fetched < self.batch_size:
            self._backlog = fetched
            return fetched
        now = time.monotonic()
        if now >= self._next_count:
            async with self.pool.acquire() as conn:
                self._backlog = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            self._next_count = now + 1.0
        return max(self._backlog, fetched)

    async def _by_partition(self, rows: list[asyncpg.Record]) -> list[tuple[str, int, list[asyncpg.Record]]]:
        """Rows grouped by destination partition, id order kept inside each group. The partition is the
        one `send()` would pick (murmur2 of the key), so a key always lands on the same partition."""
        groups: dict[tuple[str, int], list[asyncpg.Record]] = {}
        partitions: dict[str, list[int]] = {}
        chosen: dict[tuple[str, str], int] = {}  # murmur2 is pure Python: once per topic and key of a batch
        for row in rows:
            topic, key = row["topic"], row["key"]
            partition = chosen.get((topic, key))
            if partition is None:
                if topic not in partitions:
                    partitions[topic] = sorted(await self.producer.partitions_for(topic))
                known = partitions[topic]
                partition = chosen[topic, key] = DefaultPartitioner()(key.encode(), known, known)
            groups.setdefault((topic, partition), []).append(row)
        return [(topic, partition, group) for (topic, partition), group in groups.items()]

    async def _send_in_batches(self, topic: str, partition: int, rows: list[asyncpg.Record]) -> list[asyncio.Future]:
        """Whole record batches, sent in order: far cheaper per event than one `send()` each."""
        acks = []
        batch = self.producer.create_batch()
        for row in rows:
            key, value = row["key"].encode(), row["payload"].encode()
            if batch.append(key=key, value=value, timestamp=None) is None:
                acks.append(await self.producer.send_batch(batch, topic, partition=partition))
                batch = self.producer.create_batch()
                if batch.append(key=key, value=value, timestamp=None) is None:
                    raise ValueError(f"outbox row {row['id']} is larger than a whole batch")
        if batch.record_count():
            acks.append(await self.producer.send_batch(batch, topic, partition=partition))
        return acks

    async def _purge_when_due(self) -> None:
        now = time.monotonic()
        if now >= self._next_purge:
            self._next_purge = now + self.purge_every_seconds
            purged = await self.purge_published()
            if purged:
                log.info("published outbox rows purged", schema=self.schema, rows=purged, days=self.retention_days)

    async def purge_published(self) -> int:
        """Published rows older than the retention: the table holds what is pending and a few days of history."""
        async with self.pool.acquire() as conn:
            status = await conn.execute(
                "DELETE FROM outbox WHERE published_at < now() - make_interval(days => $1)", self.retention_days
            )
        return int(status.split()[-1])

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    async def _hold_leadership(self) -> bool:
        if self._leader is not None and not self._leader.is_closed():
            return True
        conn = await self.pool.acquire()
        try:
            got = await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"outbox-relay:{self.schema}")
        except BaseException:  # cancelled mid-query: a connection kept here would hang pool.close()
            await self.pool.release(conn)
            raise
        if not got:
            await self.pool.release(conn)
            return False
        self._leader = conn
        log.info("outbox relay is the leader", schema=self.schema)
        return True

    async def _drop_leadership(self) -> None:
        conn, self._leader = self._leader, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.execute("SELECT pg_advisory_unlock_all()")
        with contextlib.suppress(Exception):
            await self.pool.release(conn)
