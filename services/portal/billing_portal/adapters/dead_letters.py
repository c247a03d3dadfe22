"""How many messages wait in each topic's dead-letter queue (read from the broker's offsets)."""
from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from billing_shared.events.catalog import TOPICS
from billing_shared.kafka.topics import TopicNames


async def counts(bootstrap_servers: str, names: TopicNames) -> dict[str, int]:
    """Per contract topic, the messages its `.dlq` holds (end offset minus start, over its partitions)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                request_timeout_ms=5000)
    await consumer.start()
    try:
        present = await consumer.topics()
        found: dict[str, int] = {}
        for topic in TOPICS:
            dlq = names.dlq(topic)
            if dlq not in present:
                found[topic] = 0
                continue
            partitions = [TopicPartition(dlq, p) for p in sorted(consumer.partitions_for_topic(dlq) or ())]
            ends = await consumer.end_offsets(partitions)
            starts = await consumer.beginning_offsets(partitions)
            found[topic] = sum(ends[tp] - starts[tp] for tp in partitions)
        return found
    finally:
        await consumer.stop()
