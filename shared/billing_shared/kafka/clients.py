"""The only place Kafka clients are built, so the settings that money depends on are set once.

aiokafka's defaults are wrong for money (kafka-notes.md 2): acks=1, no idempotence, auto-commit on,
`latest` offsets and read_uncommitted. Everything below overrides them.
"""
from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

PRODUCER_SETTINGS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    # Small linger: the relay sends many events at once; batching them is most of the throughput.
    "linger_ms": 2,
    "max_batch_size": 256 * 1024,
    "request_timeout_ms": 30000,
}

CONSUMER_SETTINGS: dict[str, Any] = {
    "enable_auto_commit": False,
    "auto_offset_reset": "earliest",
    "isolation_level": "read_committed",
    "max_poll_interval_ms": 300000,
    "session_timeout_ms": 10000,
    "heartbeat_interval_ms": 3000,
    "metadata_max_age_ms": 30000,
}


def make_producer(bootstrap_servers: str, *, client_id: str = "billing") -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap_servers, client_id=client_id, **PRODUCER_SETTINGS)


def make_large_message_producer(bootstrap_servers: str, *, client_id: str = "billing") -> AIOKafkaProducer:
    """For parking a message too large for `make_producer`: the broker limits the compressed batch, so a value
    another producer sent compressed is taken again compressed (aiokafka checks the uncompressed size)."""
    return AIOKafkaProducer(bootstrap_servers=bootstrap_servers, client_id=client_id, **PRODUCER_SETTINGS,
                            compression_type="gzip", max_request_size=64 * 1024 * 1024)


def make_consumer(
    bootstrap_servers: str, group_id: str, *topics: str, max_poll_records: int = 500, client_id: str = "billing"
) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        client_id=client_id,
        max_poll_records=max_poll_records,
        **CONSUMER_SETTINGS,
    )
