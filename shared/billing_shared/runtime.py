"""What every service process holds: a pool on its schema, a producer, the outbox relay, its consumers.

Started and stopped in an aiohttp `cleanup_ctx`, so resources live exactly as long as the app.
Background tasks are supervised: one that dies is logged and restarted, never silently lost.
"""
from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import asyncpg
import structlog
import uvloop
from aiohttp import web
from aiokafka import AIOKafkaProducer

from billing_shared.db import create_pool
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.runner import Batched, ConsumerRunner, Handler
from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_shared.logging import configure_logging
from billing_shared.migrations import migrate
from billing_shared.outbox import UnitOfWork
from billing_shared.relay import OutboxRelay
from billing_shared.settings import ServiceSettings
from billing_shared.web.app import HEALTH_CHECKS
from billing_shared.web.errors import answer_unreadable_requests_in_our_shape

log = structlog.get_logger(__name__)


# How long stopping waits for background tasks, then for pooled connections, before giving up on them.
STOP_GRACE_SECONDS = 10.0

class Runtime:
    def __init__(self, *, name: str, schema: str, package: str, settings: ServiceSettings) -> None:
        self.name = name
        self.schema = schema
        self.package = package
        self.settings = settings
        self.topics = TopicNames(settings.kafka_topic_prefix)
        self.pool: asyncpg.Pool
        self.producer: AIOKafkaProducer
        self.relay: OutboxRelay
        self.uow: UnitOfWork
        self.consumers: list[ConsumerRunner] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closers: list[Callable[[], Awaitable[object]]] = []

    async def start(self) -> None:
        s = self.settings
        self.pool = await create_pool(s.database_url, self.schema, max_size=s.db_pool_size)
        await migrate(self.pool, self.schema, self.package)
        await ensure_topics(s.kafka_bootstrap_servers, self.topics.all(), partitions=s.kafka_topic_partitions)
        self.producer = make_producer(s.kafka_bootstrap_servers, client_id=self.name)
        await self.producer.start()
        self.relay = OutboxRelay(self.pool, self.producer, schema=self.schema, poll_seconds=s.outbox_poll_seconds)
        self.uow = UnitOfWork(self.pool, self.topics, on_commit=self.relay.wake)
        self.spawn("outbox-relay", self.relay.run)

    def consume(self, name: str, topics: Sequence[str], handlers: Mapping[str, Handler | Batched]) -> ConsumerRunner:
        """Start a consumer group `name` (also its inbox name) on the contract topics given."""
        runner = ConsumerRunner(
            name=name, topics=topics, handlers=handlers, uow=self.uow, producer=self.producer,
            bootstrap_servers=self.settings.kafka_bootstrap_servers, topic_names=self.topics,
        )
        self.consumers.append(runner)
        self.spawn(f"consumer:{name}", runner.run)
        return runner

    def close_at_stop(self, close: Callable[[], Awaitable[object]]) -> None:
        """Something the service opened (an HTTP client session) to close when the runtime stops."""
        self._closers.append(close)

    def spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        self._tasks[name] = asyncio.create_task(self._supervise(name, run), name=name)

    async def _supervise(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        delay = 0.5
        while True:
            try:
                await run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task died; restarting", task=name, delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def stop(self) -> None:
        """Stop within a bounded time: a task that does not end on cancel, or a connection still held,
        must not keep the process (or a test) from stopping."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_SECONDS)
            if pending:
                log.warning("background tasks did not stop in time", tasks=sorted(t.get_name() for t in pending))
        for close in reversed(self._closers):
            with contextlib.suppress(Exception):
                await close()
        with contextlib.suppress(Exception):
            await self.producer.stop()
        try:
            await asyncio.wait_for(self.pool.close(), STOP_GRACE_SECONDS)
        except Exception:  # noqa: BLE001 - a connection still held past the grace: close them all now
            self.pool.terminate()

    async def check_database(self) -> None:
        async with self.pool.acquire() as conn:
            await conn.fetchval("SELECT 1")

    async def check_kafka(self) -> None:
        await self.producer.client.fetch_all_metadata()

    def install(self, app: web.Application, wire: Callable[["Runtime"], Awaitable[None]] | None = None) -> None:
        """Run this runtime for the app's lifetime; `wire` adds the service's consumers and tasks."""

        async def lifetime(app: web.Application) -> AsyncIterator[None]:
            await self.start()
            app[HEALTH_CHECKS].update(database=self.check_database, kafka=self.check_kafka)
            if wire is not None:
                await wire(self)
            yield
            await self.stop()

        app.cleanup_ctx.append(lifetime)


RUNTIME = web.AppKey("runtime", Runtime)


def tune_gc() -> None:
    """A consumer batch keeps thousands of events (each a few dozen objects) alive while it is handled, so with
    Python's defaults (a young collection every 700 allocations) they survive young collections, get promoted,
    and make full collections walk the whole heap (every module, pydantic schema and client object) again and
    again: that was most of the CPU an event cost in sync (bench/pipeline.py). What is loaded at start is frozen
    out of collection (it lives as long as the process), and collections come far less often (young ones every
    100,000 allocations: 77 us of CPU per event at 20,000, 49 us at 100,000, no better at 300,000; sync's peak RSS
    108 MB in all). Memory stays bounded: nearly everything is freed by reference counting; cycles wait longer."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


def run_service(service: str, settings: ServiceSettings, build_app: Callable[[Any], web.Application], *,
                gc_tuned: bool = False) -> None:
    """The body of every service's `__main__`: logging, the app, serve until SIGTERM/SIGINT. `gc_tuned`: see
    `tune_gc` (sync, whose consumer batches are the largest; elsewhere it raised peak RSS more than it saved)."""
    configure_logging(service, settings.log_level, settings.log_format)
    app = build_app(settings)
    if gc_tuned:
        tune_gc()  # after the app is built: its modules and schemas are what lives as long as the process
    answer_unreadable_requests_in_our_shape()
    log.info("starting", port=settings.http_port)
    # uvloop: the same asyncio, with far cheaper socket I/O, which is most of what these services do.
    web.run_app(app, host=settings.http_host, port=settings.http_port, print=None, access_log=None,
                loop=uvloop.new_event_loop())
