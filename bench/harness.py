"""What the benchmarks share: a real broker and Postgres (durable settings: fsync on, unlike the test
fixtures), service processes, peak-RSS sampling, and event factories."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import asyncpg
import psutil

from billing_shared.events.upstream import InvoiceUpserted, InvoiceUpsertedData, UpstreamOrganization
from billing_shared.money import money
from billing_shared.secrets import new_key
from devstack.kafka import KafkaBroker, wait_until_ready
from devstack.ports import free_port
from devstack.postgres import PostgresServer
from devstack.processes import Managed, start_python, wait_healthy

TOKENS = [{"token": "bench-manager", "role": "manager"}]


@dataclass
class Infra:
    bootstrap: str
    database_url: str
    home: Path
    processes: list[Managed] = field(default_factory=list)

    def service_env(self, prefix: str) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_TOPIC_PREFIX": prefix, "API_TOKENS": json.dumps(TOKENS), "SECRETS_KEY": new_key(),
            "LOG_LEVEL": "WARNING", "LOG_FORMAT": "json",
        }

    async def start_service(self, name: str, module: str, prefix: str) -> tuple[Managed, str]:
        port = free_port()
        managed = start_python(name, module, env={**self.service_env(prefix), "HTTP_PORT": str(port)},
                               log_dir=self.home / "logs", health_url=f"http://127.0.0.1:{port}/health")
        self.processes.append(managed)
        await wait_healthy([managed], timeout=90)
        return managed, f"http://127.0.0.1:{port}"


@asynccontextmanager
async def infrastructure() -> AsyncIterator[Infra]:
    """KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, otherwise our own broker and server."""
    home = Path(tempfile.mkdtemp(prefix="billing-bench-"))
    broker_process, postgres = None, None
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            (home / "kafka").mkdir()
            broker = KafkaBroker(home / "kafka", port=free_port(), controller_port=free_port(), heap="1g")
            broker_process = broker.start()
            bootstrap = broker.bootstrap
        admin_url = os.environ.get("DATABASE_URL")
        if not admin_url:
            postgres = PostgresServer(home / "pg" / "data", port=free_port(), fast=bool(os.environ.get("BENCH_PG_NO_FSYNC")))
            postgres.start()
            admin_url = postgres.url("postgres")
        await wait_until_ready(bootstrap, timeout=120, process=broker_process)
        name = f"bench_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        infra = Infra(bootstrap, f"{admin_url.rsplit('/', 1)[0]}/{name}", home)
        try:
            yield infra
        finally:
            for p in infra.processes:
                p.stop()
    finally:
        if broker_process is not None:
            broker_process.terminate()
            broker_process.wait(30)
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(home, ignore_errors=True)


class PeakRss:
    """Samples a process's resident memory every 100 ms; `peak_mb` is the highest seen."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            await asyncio.sleep(0.1)

    def __enter__(self) -> PeakRss:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *_: object) -> None:
        if self._task:
            self._task.cancel()

    @property
    def peak_mb(self) -> float:
        return self.peak / 1024 / 1024


class CpuMeter:
    """CPU seconds spent by named processes (with their children) between start() and report()."""

    def __init__(self, **pids: int) -> None:
        self.pids = pids
        self._start: dict[str, float] = {}

    @staticmethod
    def _seconds(pid: int) -> float:
        try:
            root = psutil.Process(pid)
            # this process started the others: only its own time is the load generator's
            procs = [root] if pid == os.getpid() else [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        return total

    def start(self) -> None:
        self._start = {name: self._seconds(pid) for name, pid in self.pids.items()}

    def report(self, wall: float) -> str:
        used = {name: self._seconds(pid) - self._start.get(name, 0.0) for name, pid in self.pids.items()}
        return "CPU: " + ", ".join(f"{name} {100 * sec / wall:.0f}%" for name, sec in used.items())


def postgres_pid(database_url: str) -> int | None:
    """The postmaster serving this database (its backends are its children)."""
    port = int(database_url.rsplit(":", 1)[1].split("/")[0])
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if proc.info["name"] == "postgres" and any(f"-p {port}" in a or a == str(port) for a in proc.info["cmdline"] or []):
                return proc.pid
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == "LISTEN" and conn.pid:
            return conn.pid
    return None


ISSUED_ON = date.today() - timedelta(days=3)  # recent: older invoices are not announced

def upstream_invoice(n: int, organizations: int = 500, version: int = 1) -> InvoiceUpserted:
    org = n % organizations
    total = money(f"{100 + n % 900}.00")
    return InvoiceUpserted.new(
        producer="bench", organization_id=f"autotask:{org}",
        data=InvoiceUpsertedData(
            source="autotask", external_id=str(n), version=version,
            organization=UpstreamOrganization(external_id=str(org), name=f"Organization {org}"),
            invoice_number=str(10000 + n), issued_on=ISSUED_ON, due_on=ISSUED_ON + timedelta(days=30), currency="USD",
            total=total,
        ),
    )
