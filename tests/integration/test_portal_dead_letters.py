"""The Operations page's dead-letter counts, read from the broker: a consumer outside any group knows no
topic's partitions, so the counts once read 0 whatever the queues held."""
from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from billing_portal.adapters import dead_letters
from billing_shared.events.catalog import BILLING_PAYMENTS, BILLING_SYNC, TOPICS
from billing_shared.kafka.topics import TopicNames, ensure_topics

pytestmark = pytest.mark.timeout(60)


async def test_each_topic_counts_the_messages_its_dead_letter_queue_holds(infra, topic_prefix):
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all())
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap)
    await producer.start()
    try:
        for n in range(3):
            await producer.send_and_wait(names.dlq(BILLING_PAYMENTS), b"parked", key=f"org-{n}".encode())
        await producer.send_and_wait(names.dlq(BILLING_SYNC), b"parked")
    finally:
        await producer.stop()
    found = await dead_letters.counts(infra.kafka_bootstrap, names)
    assert found == {**dict.fromkeys(TOPICS, 0), BILLING_PAYMENTS: 3, BILLING_SYNC: 1}
