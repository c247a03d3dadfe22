"""Session infrastructure: a real Kafka broker and a real Postgres server, started here when the
environment does not name them (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL). A missing broker or database
is an error, never a skip. Each test gets its own database and its own topic prefix.

The broker and the database are started once collection shows a test needs them, and stopped when the
session finishes: neither counts against any one test's timeout (pytest-timeout times a test's setup
and teardown, and a session fixture would be set up in the first test that asks for it and torn down
in the last test of the run)."""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import Popen

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from devstack.kafka import KafkaBroker, wait_until_ready
from devstack.ports import free_port
from devstack.postgres import PostgresServer

pytest_plugins = ("pytester",)


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    postgres_admin_url: str  # a database we may CREATE DATABASE from


@dataclass
class _Servers:
    """What this session started, so that it is stopped at the end of the session."""
    home: Path
    broker: Popen | None = None
    postgres: PostgresServer | None = None
    infra: Infra | None = field(default=None)

    def start(self) -> Infra:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            (self.home / "kafka").mkdir(parents=True)
            # 1 GiB: every test makes its own topics, and a broker holding thousands of partitions runs out
            # of a smaller heap (tests delete theirs at the end; a few module-wide ones stay).
            broker = KafkaBroker(self.home / "kafka", port=free_port(), controller_port=free_port(), fast_start=True,
                                 heap="1g")
            self.broker = broker.start()
            bootstrap = broker.bootstrap
        admin_url = os.environ.get("DATABASE_URL")
        if not admin_url:
            self.postgres = PostgresServer(self.home / "pg" / "data", port=free_port(), fast=True)
            self.postgres.start()
            admin_url = self.postgres.url("postgres")
        asyncio.run(wait_until_ready(bootstrap, timeout=120, process=self.broker))
        self.infra = Infra(bootstrap, admin_url)
        return self.infra

    def stop(self) -> None:
        if self.broker is not None:
            self.broker.terminate()
            try:
                self.broker.wait(30)
            except Exception:  # noqa: BLE001
                self.broker.kill()
        if self.postgres is not None:
            self.postgres.stop()
        shutil.rmtree(self.home, ignore_errors=True)


_SERVERS = pytest.StashKey[_Servers]()


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the servers before the first test when any collected test needs them."""
    if any("infra" in getattr(item, "fixturenames", ()) for item in session.items):
        servers = _Servers(Path(tempfile.mkdtemp(prefix="billing-test-")))
        session.config.stash[_SERVERS] = servers
        try:
            servers.start()
        except BaseException:
            servers.stop()
            raise


def pytest_sessionfinish(session: pytest.Session) -> None:
    servers = session.config.stash.get(_SERVERS, None)
    if servers is not None:
        servers.stop()


@pytest.fixture(scope="session")
def infra(request: pytest.FixtureRequest) -> Infra:
    servers = request.config.stash.get(_SERVERS, None)
    assert servers is not None and servers.infra is not None, "the session's servers were not started"
    return servers.infra


@pytest.fixture
async def database_url(infra: Infra) -> str:
    """A fresh, empty database for this test."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(infra.postgres_admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = infra.postgres_admin_url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
async def topic_prefix(infra: Infra) -> AsyncIterator[str]:
    """Topics of this test live under their own prefix, so tests never read each other's events; they are
    deleted when the test ends, so the broker does not carry every test's partitions to the end."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    yield prefix
    await delete_topics(infra.kafka_bootstrap, prefix)


async def delete_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        await admin.start()
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine, timeout_ms=10_000)
    except Exception:  # noqa: BLE001 - a topic left behind costs memory, not correctness
        pass
    finally:
        await admin.close()
