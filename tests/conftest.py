"""Session infrastructure: a real Kafka broker and a real Postgres server, started here when the
environment does not name them (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL). A missing broker or database
is an error, never a skip. Each test gets its own database and its own topic prefix."""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from devstack.kafka import KafkaBroker, wait_until_ready
from devstack.ports import free_port
from devstack.postgres import PostgresServer


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    postgres_admin_url: str  # a database we may CREATE DATABASE from


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    home = Path(tempfile.mkdtemp(prefix="billing-test-"))
    broker_process = None
    postgres = None
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            (home / "kafka").mkdir()
            broker = KafkaBroker(home / "kafka", port=free_port(), controller_port=free_port(), fast_start=True)
            broker_process = broker.start()
            bootstrap = broker.bootstrap
        admin_url = os.environ.get("DATABASE_URL")
        if not admin_url:
            postgres = PostgresServer(home / "pg" / "data", port=free_port(), fast=True)
            postgres.start()
            admin_url = postgres.url("postgres")
        asyncio.run(wait_until_ready(bootstrap, timeout=120, process=broker_process))
        yield Infra(bootstrap, admin_url)
    finally:
        if broker_process is not None:
            broker_process.terminate()
            try:
                broker_process.wait(30)
            except Exception:  # noqa: BLE001
                broker_process.kill()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(home, ignore_errors=True)


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
def topic_prefix() -> str:
    """Topics of this test live under their own prefix, so tests never read each other's events."""
    return f"t{uuid.uuid4().hex[:10]}."
