"""The consumer runner: sequential per partition, parallel across partitions, exactly-once effects.

Each poll's messages of one partition are handled in ONE database transaction: the inbox insert (which
drops event ids already handled), every handler's effects and their outbox rows commit together, and
the Kafka offset is committed only after that. A message that cannot be parsed or validated goes,
unchanged, to `<topic>.dlq` with headers `error` and `source_offset`, and the partition moves on.

When a batch fails, it is retried one event per transaction so that one bad event cannot hold back the
rest: an event whose handler keeps failing is dead-lettered with the reason. Database and connection
errors are retried without end while the database does not answer, because dead-lettering every event
while it is down would be worse; once it answers, an event that still fails that way is one more
failing event. No exception a handler or the parser raises stops a partition for good.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import asyncpg
import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError, MessageSizeTooLargeError
from pydantic import ValidationError

from billing_shared.events import Event, parse_event
from billing_shared.kafka.clients import make_consumer, make_large_message_producer
from billing_shared.kafka.topics import TopicNames
from billing_shared.metrics import CONSUMED, HANDLER_RETRIES
from billing_shared.outbox import Tx, UnitOfWork

log = structlog.get_logger(__name__)

Handler = Callable[[Tx, Any], Awaitable[None]]
BatchHandlerFn = Callable[[Tx, Sequence[Any]], Awaitable[None]]


@dataclass(frozen=True)
class Batched:
    """Marks a handler that takes a whole run of consecutive events of its type at once."""

    fn: BatchHandlerFn


class RetryLater(Exception):
    """A handler's way to say: not my input's fault; try the same event again later (retried like a
    database error: bounded once the database answers)."""


TRANSIENT = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.CannotConnectNowError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
    RetryLater,
)

Item = tuple[ConsumerRecord, Event]


class ConsumerRunner:
    def __init__(
        self,
        *,
        name: str,
        topics: Sequence[str],
        handlers: Mapping[str, Handler | Batched],
        uow: UnitOfWork,
        producer: AIOKafkaProducer,
        bootstrap_servers: str,
        topic_names: TopicNames,
        max_poll_records: int = 2000,
        attempts_per_event: int = 3,
        transient_attempts: int = 8,
    ) -> None:
        self.name = name
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self.uow = uow
        self.producer = producer
        self.bootstrap_servers = bootstrap_servers
        self.names = topic_names
        self.max_poll_records = max_poll_records
        self.attempts_per_event = attempts_per_event
        self.transient_attempts = transient_attempts
        self.started = asyncio.Event()
        self._large_producer: AIOKafkaProducer | None = None  # made when a message is too large to park

    async def run(self) -> None:
        consumer = make_consumer(
            self.bootstrap_servers,
            self.names(self.name),
            *(self.names(t) for t in self.topics),
            max_poll_records=self.max_poll_records,
            client_id=self.name,
        )
        try:  # a stop that comes while the consumer is still joining its group closes it too
            await consumer.start()
            self.started.set()
            log.info("consumer started", consumer=self.name, topics=self.topics)
            while True:
                polled = await consumer.getmany(timeout_ms=500, max_records=self.max_poll_records)
                if not polled:
                    continue
                await asyncio.gather(*(self.process(tp, msgs) for tp, msgs in polled.items()))
                try:
                    await consumer.commit({tp: msgs[-1].offset + 1 for tp, msgs in polled.items()})
                except CommitFailedError:
                    # A rebalance took the partition; its next owner re-reads and the inbox drops repeats.
                    log.warning("offset commit failed during a rebalance", consumer=self.name)
        finally:
            await consumer.stop()
            if self._large_producer is not None:
                await self._large_producer.stop()
                self._large_producer = None

    async def process(self, tp: TopicPartition, messages: Sequence[ConsumerRecord]) -> None:
        """Handle one partition's share of a poll; returns when every message is handled or parked."""
        topic = self.names.contract_name(tp.topic)
        items: list[Item] = []
        for msg in messages:
            try:
                items.append((msg, parse_event(topic, msg.value)))
            except Exception as exc:  # noqa: BLE001 - whatever parsing raises, the message is at fault
                await self.dead_letter(topic, msg, _describe(exc))
        wanted = [(m, e) for m, e in items if e.event_type in self.handlers]
        if len(wanted) < len(items):
            CONSUMED.labels(self.name, topic, "ignored").inc(len(items) - len(wanted))
        if wanted:
            await self._handle(topic, wanted)

    async def _handle(self, topic: str, items: list[Item]) -> None:
        delay = 0.05
        transient_failures = 0
        while True:
            try:
                await self._handle_in_one_transaction(topic, items)
                return
            except TRANSIENT as exc:
                HANDLER_RETRIES.labels(self.name).inc()
                transient_failures += 1
                if transient_failures < self.transient_attempts or not await self._database_answers():
                    log.warning("batch failed on a transient error; retrying", consumer=self.name,
                                error=repr(exc))
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                # The database answers, yet these events keep failing: treat it as a handler failure.
            except Exception:
                HANDLER_RETRIES.labels(self.name).inc()
            if len(items) == 1:
                await self._handle_alone(topic, items[0])
                return
            log.warning("batch failed; handling its events one at a time", consumer=self.name)
            for item in items:
                await self._handle(topic, [item])
            return

    async def _handle_alone(self, topic: str, item: Item) -> None:
        """One event that failed in a batch: a few attempts of its own, then the dead-letter topic.
        An attempt that failed while the database did not answer does not count."""
        msg, event = item
        error: Exception | None = None
        attempt = 0
        while attempt < self.attempts_per_event:
            try:
                await self._handle_in_one_transaction(topic, [item])
                return
            except Exception as exc:  # noqa: BLE001 - any handler failure parks the event after retries
                error = exc
                if isinstance(exc, TRANSIENT) and not await self._database_answers():
                    log.warning("database not answering; waiting", consumer=self.name, error=repr(exc))
                    await asyncio.sleep(1.0)
                    continue
                attempt += 1
                log.exception("handler failed", consumer=self.name, event_id=str(event.event_id), attempt=attempt)
                await asyncio.sleep(0.05 * attempt)
        await self.dead_letter(topic, msg, f"handler failed: {error!r}")

    async def _large_message_producer(self) -> AIOKafkaProducer:
        if self._large_producer is None:
            producer = make_large_message_producer(self.bootstrap_servers, client_id=f"{self.name}-dlq")
            await producer.start()
            self._large_producer = producer
        return self._large_producer

    async def _database_answers(self) -> bool:
        try:
            async with asyncio.timeout(2.0):
                await self.uow.pool.fetchval("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means it does not answer
            return False

    async def _handle_in_one_transaction(self, topic: str, items: list[Item]) -> None:
        async with self.uow.begin() as tx:
            fresh_ids = {
                r["event_id"]
                for r in await tx.conn.fetch(
                    "INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[]) "
                    "ON CONFLICT DO NOTHING RETURNING event_id",
                    self.name,
                    [e.event_id for _, e in items],
                )
            }
            fresh: list[Item] = []
            for msg, event in items:
                if event.event_id in fresh_ids:
                    fresh_ids.discard(event.event_id)  # a repeat inside the same batch is still a repeat
                    fresh.append((msg, event))
            for event_type, run in groupby(fresh, key=lambda item: item[1].event_type):
                await self._dispatch(tx, topic, event_type, list(run))
        CONSUMED.labels(self.name, topic, "handled").inc(len(fresh))
        if len(fresh) < len(items):
            CONSUMED.labels(self.name, topic, "duplicate").inc(len(items) - len(fresh))

    async def _dispatch(self, tx: Tx, topic: str, event_type: str, run: list[Item]) -> None:
        handler = self.handlers[event_type]
        first_msg, first = run[0]
        with structlog.contextvars.bound_contextvars(
            topic=topic, partition=first_msg.partition, offset=first_msg.offset,
            event_id=str(first.event_id), organization_id=first.organization_id,
        ):
            if isinstance(handler, Batched):
                await handler.fn(tx, [event for _, event in run])
                log.debug("handled", event_type=event_type, count=len(run))
                return
            for msg, event in run:
                structlog.contextvars.bind_contextvars(
                    offset=msg.offset, event_id=str(event.event_id), organization_id=event.organization_id
                )
                await handler(tx, event)
                log.debug("handled", event_type=event_type)

    async def dead_letter(self, topic: str, msg: ConsumerRecord, error: str) -> None:
        headers = [*(msg.headers or ()), ("error", error[:2000].encode()), ("source_offset", str(msg.offset).encode()),
                   ("source_partition", str(msg.partition).encode()), ("consumer", self.name.encode())]
        value, producer = msg.value, self.producer
        while True:
            try:
                await producer.send_and_wait(self.names.dlq(topic), value, key=msg.key, headers=headers)
                break
            except MessageSizeTooLargeError:
                # Never retried as is, or the partition would stop: the source may have come compressed, so try
                # compressed; when even that is refused, park the place and the reason without the value
                # (source_partition and source_offset find it in the source topic).
                if producer is self.producer:
                    producer = await self._large_message_producer()
                else:
                    value = b""
                    headers = [*headers, ("value_left_out", b"too large to park")]
            except KafkaError as exc:  # the partition must not move on before its bad message is parked
                log.warning("dead-letter send failed; retrying", error=repr(exc))
                await asyncio.sleep(0.5)
        CONSUMED.labels(self.name, topic, "dead_lettered").inc()
        log.warning("message dead-lettered", consumer=self.name, topic=topic, partition=msg.partition,
                    offset=msg.offset, error=error[:300])


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]]
        return "invalid event: " + "; ".join(parts)
    if isinstance(exc, ValueError):
        return f"unparseable message: {exc}"
    return f"unparseable message: {exc!r}"
