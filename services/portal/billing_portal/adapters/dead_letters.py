"""How many messages wait in each topic's dead-letter queue (read from the broker's offsets)."""
from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from billing_shared.events.catalog import TOPICS
from billing_shared.kafka.topics import TopicNames


async def counts(bootstrap_servers: str, names: TopicNames) -> dict[str, int]:
    """Per contract topic, the messages its `.dlq` holds (end offset minus start, over its partitions).
    The partitions come from the admin client: a consumer in no group knows only the topics it was given."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                                request_timeout_ms=5000)
    await admin.start()
    try:
        await consumer.start()
        try:
            dlqs = {names.dlq(topic): topic for topic in TOPICS}
            present = set(await admin.list_topics()) & dlqs.keys()
            described = await admin.describe_topics(sorted(present)) if present else []
            partitions = [TopicPartition(d["topic"], p["partition"]) for d in described if d["error_code"] == 0
                          for p in d["partitions"]]
            starts = await consumer.beginning_offsets(partitions) if partitions else {}
            ends = await consumer.end_offsets(partitions) if partitions else {}
            found = dict.fromkeys(TOPICS, 0)
            for tp in partitions:
                found[dlqs[tp.topic]] += ends[tp] - starts[tp]
            return found
        finally:
            await consumer.stop()
    finally:
        await admin.close()
