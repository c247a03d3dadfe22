"""End-to-end fixtures: the three services as separate processes on the session's Kafka and Postgres."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytest_asyncio

from billing_shared.secrets import new_key
from devstack.ports import free_port
from devstack.processes import Managed, start_python, wait_healthy

ADMIN, MANAGER, CLIENT = "e2e-admin-token", "e2e-manager-token", "e2e-client-token"
TOKENS = [
    {"token": ADMIN, "role": "admin"},
    {"token": MANAGER, "role": "manager"},
    {"token": CLIENT, "role": "client", "organization_id": "autotask:678", "contact_id": "autotask:901"},
]
SERVICES = {"sync": "billing_sync", "payments": "billing_payments", "notifications": "billing_notifications",
            "portal": "billing_portal"}


@dataclass
class System:
    env: dict[str, str]
    log_dir: Path
    urls: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Managed] = field(default_factory=dict)

    async def start(self, name: str) -> Managed:
        port = int(self.urls[name].rsplit(":", 1)[1]) if name in self.urls else free_port()
        self.urls[name] = f"http://127.0.0.1:{port}"
        managed = start_python(name, SERVICES[name], env={**self.env, "HTTP_PORT": str(port)},
                               log_dir=self.log_dir, health_url=f"{self.urls[name]}/health")
        self.processes[name] = managed
        await wait_healthy([managed], timeout=60)
        return managed

    def stop_all(self) -> None:
        for managed in self.processes.values():
            managed.stop()


@pytest.fixture
async def system(infra, database_url, topic_prefix, tmp_path) -> AsyncIterator[System]:
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": topic_prefix,
        "API_TOKENS": json.dumps(TOKENS),
        "SECRETS_KEY": new_key(),
        "LOG_FORMAT": "json",
        "OUTBOX_POLL_SECONDS": "0.1",
    }
    sys_ = System(env, tmp_path / "logs")
    try:
        yield sys_
    finally:
        sys_.stop_all()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(infra, tmp_path_factory):
    """A configured payments world shared by one test module (tests/e2e/payments_support.py)."""
    from tests.e2e.payments_support import new_world

    world = await new_world(infra, tmp_path_factory.mktemp("payments"))
    await world.configure()
    yield world
    await world.stop()
