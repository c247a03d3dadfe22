"""Topic names (with an optional prefix for isolation) and their creation, each with its `.dlq`."""
from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from billing_shared.events.catalog import TOPICS

DLQ_SUFFIX = ".dlq"


class TopicNames:
    """Maps contract topic names to the names on the broker (`prefix + name`)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix

    def __call__(self, contract_name: str) -> str:
        return f"{self.prefix}{contract_name}"

    def dlq(self, contract_name: str) -> str:
        return f"{self.prefix}{contract_name}{DLQ_SUFFIX}"

    def contract_name(self, broker_name: str) -> str:
        return broker_name.removeprefix(self.prefix)

    def all(self) -> list[str]:
        """Every contract topic and its dead-letter topic."""
        return [name for t in TOPICS for name in (self(t), self.dlq(t))]


async def ensure_topics(
    bootstrap_servers: str, names: Iterable[str], *, partitions: int = 3, replication_factor: int = 1
) -> None:
    """Create the topics that do not exist yet; existing ones are left alone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [n for n in dict.fromkeys(names) if n not in existing]
        if missing:
            try:
                await admin.create_topics([NewTopic(n, partitions, replication_factor) for n in missing])
            except TopicAlreadyExistsError:
                pass  # another replica created it first
            await _wait_for_leaders(admin, missing)
    finally:
        await admin.close()


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str], timeout: float = 30.0) -> None:
    """A new topic takes a moment to elect its partition leaders; producing before that only errors."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        described = await admin.describe_topics(topics)
        if all(t["error_code"] == 0 and t["partitions"] and all(p["leader"] >= 0 for p in t["partitions"])
               for t in described):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics without leaders after {timeout:.0f}s: {topics}")
        await asyncio.sleep(0.1)
