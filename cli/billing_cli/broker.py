"""What the CLI reads from and writes to Kafka: consumer lag per group, the dead-letter queues, and replaying
a dead letter to the topic it came from (`<topic>.dlq` holds the messages of `<topic>`)."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from billing_cli.errors import BadUsage, Unreachable
from billing_shared.events.catalog import TOPICS
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import DLQ_SUFFIX, TopicNames

# headers the runner adds when it parks a message (shared/billing_shared/kafka/runner.py dead_letter); a replay
# sends the message with its own headers only, and says where it came from
PARKING_HEADERS = ("error", "source_offset", "source_partition", "consumer", "value_left_out")
REPLAYED_FROM = "replayed_from"


@dataclass(frozen=True)
class DeadLetter:
    topic: str  # the contract topic it came from
    partition: int
    offset: int  # in the `.dlq` topic
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str | None:
        found = [v for k, v in self.headers if k == name]
        return found[-1].decode(errors="replace") if found else None

    def summary(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset, "timestamp": self.timestamp,
                "key": self.key.decode(errors="replace") if self.key is not None else None,
                "error": self.header("error"), "consumer": self.header("consumer"),
                "source_partition": _int(self.header("source_partition")),
                "source_offset": _int(self.header("source_offset"))}

    def detail(self) -> dict[str, Any]:
        return {**self.summary(), "value": self.value.decode(errors="replace") if self.value is not None else None,
                "headers": {k: v.decode(errors="replace") for k, v in self.headers}}

    def replay_headers(self, dlq_topic: str) -> list[tuple[str, bytes]]:
        """The message's own headers, and where it was parked (`<dlq topic>:<partition>:<offset>`)."""
        own = [(k, v) for k, v in self.headers if k not in PARKING_HEADERS and k != REPLAYED_FROM]
        return [*own, (REPLAYED_FROM, f"{dlq_topic}:{self.partition}:{self.offset}".encode())]


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.lstrip("-").isdigit() else None


def contract_topic(names: TopicNames, given: str) -> str:
    """A topic as the operator names it (`billing.payments.v1`, its `.dlq`, with or without the prefix)."""
    topic = names.contract_name(given).removesuffix(DLQ_SUFFIX)
    if topic not in TOPICS:
        raise BadUsage(f"unknown topic {given!r}; the topics are: {', '.join(TOPICS)}", {"topic": given})
    return topic


class Broker:
    def __init__(self, bootstrap: str, prefix: str) -> None:
        self.bootstrap, self.names = bootstrap, TopicNames(prefix)

    @asynccontextmanager
    async def _clients(self) -> AsyncIterator[tuple[AIOKafkaAdminClient, AIOKafkaConsumer]]:
        """An admin client (topics and their partitions, consumer groups) and a consumer in no group (offsets,
        reading). The consumer's own metadata knows only topics it was assigned, so partitions come from the admin."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                                    isolation_level="read_committed", request_timeout_ms=5000)
        try:
            try:
                await asyncio.wait_for(admin.start(), 15)
                await asyncio.wait_for(consumer.start(), 15)
            except (KafkaConnectionError, KafkaError, TimeoutError) as exc:
                raise Unreachable(f"Kafka is unreachable at {self.bootstrap}: {type(exc).__name__}",
                                  {"kafka": self.bootstrap}) from exc
            yield admin, consumer
        finally:
            await consumer.stop()
            await admin.close()

    async def _extents(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer,
                       topics: list[str]) -> dict[str, dict[TopicPartition, tuple[int, int]]]:
        """(first offset, end offset) per partition of each broker topic; a topic that does not exist has none."""
        present = set(await admin.list_topics())
        described = await admin.describe_topics([t for t in topics if t in present]) if present & set(topics) else []
        partitions = [TopicPartition(d["topic"], p["partition"]) for d in described if d["error_code"] == 0
                      for p in d["partitions"]]
        starts = await consumer.beginning_offsets(partitions) if partitions else {}
        ends = await consumer.end_offsets(partitions) if partitions else {}
        found: dict[str, dict[TopicPartition, tuple[int, int]]] = {t: {} for t in topics}
        for tp in sorted(partitions, key=lambda tp: (tp.topic, tp.partition)):
            found[tp.topic][tp] = (starts[tp], ends[tp])
        return found

    async def dlq_counts(self) -> dict[str, int]:
        """Per contract topic, the messages its `.dlq` holds."""
        async with self._clients() as (admin, consumer):
            extents = await self._extents(admin, consumer, [self.names.dlq(t) for t in TOPICS])
        return {t: sum(end - start for start, end in extents[self.names.dlq(t)].values()) for t in TOPICS}

    async def consumer_lag(self) -> dict[str, dict[str, int]]:
        """Per consumer group of this system (those with offsets on its topics), the lag per topic: the end
        offsets minus the group's committed offsets (a partition with no commit yet counts from its start)."""
        ours = {self.names(t): t for t in TOPICS}
        async with self._clients() as (admin, consumer):
            groups = sorted(g[0] for g in await admin.list_consumer_groups() if g[0].startswith(self.names.prefix))
            committed_by_group = {}
            for group in groups:
                committed = {tp: meta.offset for tp, meta in (await admin.list_consumer_group_offsets(group)).items()
                             if tp.topic in ours}
                if committed:  # else another system's group on the same broker
                    committed_by_group[group] = committed
            extents = await self._extents(admin, consumer, list(ours))
        lag: dict[str, dict[str, int]] = {}
        for group, committed in committed_by_group.items():
            per_topic: dict[str, int] = {}
            for topic in sorted({tp.topic for tp in committed}):
                per_topic[ours[topic]] = sum(end - (committed[tp] if committed.get(tp, -1) >= 0 else start)
                                             for tp, (start, end) in extents[topic].items())
            lag[self.names.contract_name(group)] = per_topic
        return lag

    async def dead_letters(self, topic: str | None = None, *, limit: int = 1000) -> list[DeadLetter]:
        """The messages parked in the `.dlq` of `topic` (every topic when None), oldest first per partition."""
        topics = [topic] if topic else list(TOPICS)
        async with self._clients() as (admin, consumer):
            extents = await self._extents(admin, consumer, [self.names.dlq(t) for t in topics])
            found: list[DeadLetter] = []
            for name in topics:
                extent = {tp: se for tp, se in extents[self.names.dlq(name)].items() if se[1] > se[0]}
                found += await self._read(consumer, name, extent, limit - len(found))
            return found

    async def dead_letter(self, topic: str, offset: int, partition: int | None) -> DeadLetter:
        """The one message at `offset` of the topic's `.dlq` (in `partition`, or in the only partition that has it)."""
        dlq = self.names.dlq(topic)
        async with self._clients() as (admin, consumer):
            extent = (await self._extents(admin, consumer, [dlq]))[dlq]
            holding = {tp: (offset, offset + 1) for tp, (start, end) in extent.items()
                       if start <= offset < end and (partition is None or tp.partition == partition)}
            if not holding:
                raise BadUsage(f"{dlq} holds no message at offset {offset}"
                               + (f" in partition {partition}" if partition is not None else ""),
                               {"topic": topic, "offset": offset, "partition": partition})
            if len(holding) > 1:
                raise BadUsage(f"offset {offset} is in partitions {sorted(tp.partition for tp in holding)} of "
                               f"{dlq}: name one with --partition", {"topic": topic, "offset": offset})
            [letter] = await self._read(consumer, topic, holding, 1)
            return letter

    async def _read(self, consumer: AIOKafkaConsumer, topic: str, extent: dict[TopicPartition, tuple[int, int]],
                    limit: int) -> list[DeadLetter]:
        if not extent or limit <= 0:
            return []
        consumer.assign(list(extent))
        for tp, (start, _) in extent.items():
            consumer.seek(tp, start)
        found: list[DeadLetter] = []
        left = dict(extent)
        deadline = asyncio.get_running_loop().time() + 20
        while left and len(found) < limit and asyncio.get_running_loop().time() < deadline:
            for tp, records in (await consumer.getmany(*left, timeout_ms=500)).items():
                for r in records:
                    if r.offset < left.get(tp, (0, -1))[1] and len(found) < limit:
                        found.append(DeadLetter(topic, r.partition, r.offset, r.timestamp, r.key, r.value,
                                                tuple(r.headers or ())))
                    if tp in left and r.offset + 1 >= left[tp][1]:
                        del left[tp]
            # an offset past the last record read (a transaction marker) ends the partition too
            for tp in list(left):
                if await consumer.position(tp) >= left[tp][1]:
                    del left[tp]
        consumer.unsubscribe()
        return sorted(found, key=lambda d: (d.partition, d.offset))

    async def replay(self, letters: list[DeadLetter]) -> None:
        """Each message back to its source topic, with its key (so to the same partition) and value unchanged;
        consumers deduplicate by event_id, so a message replayed twice takes effect once."""
        producer = make_producer(self.bootstrap, client_id="billing-link-cli")
        try:
            await asyncio.wait_for(producer.start(), 15)
        except (KafkaConnectionError, KafkaError, TimeoutError) as exc:
            await producer.stop()
            raise Unreachable(f"Kafka is unreachable at {self.bootstrap}: {type(exc).__name__}",
                              {"kafka": self.bootstrap}) from exc
        try:
            for letter in letters:
                await producer.send_and_wait(self.names(letter.topic), letter.value, key=letter.key,
                                             headers=letter.replay_headers(self.names.dlq(letter.topic)))
        finally:
            await producer.stop()
