"""The system under test: the harness's own Kafka broker and Postgres (it bounces them, so never the
session's), the simulators in this process, and two replicas of every service as real processes sharing
one database and one topic prefix (one consumer group per service)."""
from __future__ import annotations

import asyncio
import json
import logging
import random
import secrets
import shutil
import subprocess
import tempfile
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestServer
from aiokafka.admin import AIOKafkaAdminClient

from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_shared.secrets import new_key
from billing_simulators.accounting import AccountingSimConfig
from billing_simulators.accounting import create_app as accounting_app
from billing_simulators.gateway import GatewaySimConfig
from billing_simulators.gateway import create_app as gateway_app
from billing_simulators.gateway.state import STATE_KEY as GATEWAY_STATE
from billing_simulators.psa import running_psa_simulator
from billing_simulators.smtp_sink import start_sink
from devstack.kafka import KafkaBroker, wait_until_ready
from devstack.ports import free_port
from devstack.postgres import PostgresServer
from devstack.processes import Managed, start_python, wait_healthy

SERVICES = {"sync": "billing_sync", "payments": "billing_payments", "notifications": "billing_notifications",
            "portal": "billing_portal"}
REPLICAS = 2
ADMIN, MANAGER, CLIENT = "chaos-admin", "chaos-manager", "chaos-client"
ORGANIZATION, CONTACT = "autotask:678", "autotask:901"
TOKENS = [
    {"token": ADMIN, "role": "admin"},
    {"token": MANAGER, "role": "manager"},
    {"token": CLIENT, "role": "client", "organization_id": ORGANIZATION, "contact_id": CONTACT},
]
SIGNING_KEY = "chaos-signing-key"
PSA_USER, PSA_SECRET, PSA_CODE = "api@msp.example", "sim-secret", "SIMINTEGRATIONCODE000000000000"
PAYMENT_SETTINGS = {
    "active": True, "currency": "USD", "accept_payments_in": ["autotask", "client_portal"],
    "payment_types": {"autotask": ["credit_card", "echeck"], "client_portal": ["credit_card"]},
    "public_key": "sim-public-key", "private_key": "sim-private-key",
    # on: every refund and every cancel of a settled sale moves money at the gateway, so the checker
    # can hold the gateway's refunds against the ledger's
    "refund_via_gateway": True, "auto_cancel_unsettled": True,
}
# Fast knobs, as the e2e tests use them, so that a run settles in seconds.
FAST_ENV = {
    "LOG_FORMAT": "json", "OUTBOX_POLL_SECONDS": "0.2", "SCHEDULER_TICK_SECONDS": "0.5",
    "WRITEBACK_POLL_SECONDS": "0.5", "QUICKBOOKS_THROTTLE_WAIT_SECONDS": "1", "WRITEBACK_RETRY_SECONDS": "0.3", "WRITEBACK_RETRY_MAX_SECONDS": "2",
    "GATEWAY_TIMEOUT_SECONDS": "1.5", "PENDING_GRACE_SECONDS": "3", "RECONCILE_INTERVAL_SECONDS": "0.5",
    "IDEMPOTENCY_CLAIM_LEASE_SECONDS": "3",
    "DELIVERY_POLL_SECONDS": "0.2", "RETRY_BASE_SECONDS": "0.3", "RETRY_MAX_SECONDS": "1",
    "DELIVERY_ATTEMPT_TIMEOUT_SECONDS": "5", "DELIVERY_LEASE_SECONDS": "8",
    "PSA_RETRY_ATTEMPTS": "1", "PSA_RETRY_BASE_SECONDS": "0.05", "PSA_BACKOFF_MAX_SECONDS": "0.2",
    # the faust freshness table is one more consumer per replica; its behaviour is tested elsewhere
    "FRESHNESS_ENABLED": "false", "DB_POOL_SIZE": "8",
}
log = logging.getLogger("chaos")


@dataclass
class Infra:
    """One broker and one Postgres for a whole invocation; each run gets a database and a prefix."""
    home: Path
    broker: KafkaBroker
    postgres: PostgresServer
    broker_process: subprocess.Popen[bytes] | None = None

    @classmethod
    async def start(cls) -> Infra:
        home = Path(tempfile.mkdtemp(prefix="billing-chaos-"))
        (home / "kafka").mkdir()
        broker = KafkaBroker(home / "kafka", port=free_port(), controller_port=free_port(), heap="1g",
                             fast_start=True)
        postgres = PostgresServer(home / "pg" / "data", port=free_port(), fast=True)
        infra = cls(home, broker, postgres)
        await asyncio.to_thread(postgres.start)
        infra.broker_process = broker.start()
        await wait_until_ready(broker.bootstrap, timeout=120, process=infra.broker_process)
        return infra

    async def stop_broker(self) -> None:
        process = self.broker_process
        if process is None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, 30)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait, 10)
        self.broker_process = None

    async def start_broker(self) -> None:
        self.broker_process = await asyncio.to_thread(self.broker.start)
        await wait_until_ready(self.broker.bootstrap, timeout=120, process=self.broker_process)

    async def restart_postgres(self) -> None:
        await asyncio.to_thread(self.postgres.stop)
        await asyncio.to_thread(self.postgres.start)

    async def stop(self) -> None:
        await self.stop_broker()
        await asyncio.to_thread(self.postgres.stop)
        shutil.rmtree(self.home, ignore_errors=True)


@dataclass
class Replica:
    service: str
    index: int
    port: int
    managed: Managed | None = None

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.managed is not None and self.managed.process.poll() is None


@dataclass
class System:
    infra: Infra
    log_dir: Path
    rng: random.Random
    database_url: str = ""
    prefix: str = ""
    env: dict[str, str] = field(default_factory=dict)
    replicas: dict[str, list[Replica]] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)  # simulators

    @property
    def bootstrap(self) -> str:
        return self.infra.broker.bootstrap

    @property
    def names(self) -> TopicNames:
        return TopicNames(self.prefix)

    def url(self, service: str) -> str:
        """Any replica, by the seed (a caller may hit either, as behind a load balancer)."""
        return self.rng.choice(self.replicas[service]).url

    def all_replicas(self) -> list[Replica]:
        return [r for group in self.replicas.values() for r in group]

    # -- starting ------------------------------------------------------------------------
    async def start(self, stack: AsyncExitStack) -> None:
        name = f"chaos_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(self.infra.postgres.url("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.database_url = self.infra.postgres.url(name)
        self.prefix = f"c{uuid.uuid4().hex[:8]}."
        await ensure_topics(self.bootstrap, self.names.all())
        stack.push_async_callback(self._delete_topics)
        self.http = await stack.enter_async_context(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)))
        await self._start_simulators(stack)
        for service in SERVICES:
            self.replicas[service] = [Replica(service, i, free_port()) for i in range(REPLICAS)]
        self.env = {
            **FAST_ENV,
            "DATABASE_URL": self.database_url, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_TOPIC_PREFIX": self.prefix, "API_TOKENS": json.dumps(TOKENS), "SECRETS_KEY": new_key(),
            "IDENTITY_KEY": secrets.token_urlsafe(48),
            "SYNC_URL": self.replicas["sync"][0].url, "PAYMENTS_URL": self.replicas["payments"][0].url,
            "NOTIFICATIONS_URL": self.replicas["notifications"][0].url,
            "PORTAL_PUBLIC_URL": self.replicas["portal"][0].url,
            "GATEWAY_BASE_URL": self.urls["gateway"], "GATEWAY_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
            "PSA_BASE_URL": f"{self.urls['psa']}/atservicesrest/", "PSA_USERNAME": PSA_USER,
            "PSA_SECRET": PSA_SECRET, "PSA_INTEGRATION_CODE": PSA_CODE,
            "ACCOUNTING_BASE_URL": self.urls["accounting"],
            "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(self.sink.smtp_port),
        }
        stack.callback(self.stop_services)
        # one replica first (it migrates the schema), then the rest together
        firsts = [group[0] for group in self.replicas.values()]
        for replica in firsts:
            self.launch(replica)
        await wait_healthy([r.managed for r in firsts if r.managed], timeout=120)
        rest = [r for r in self.all_replicas() if r.index > 0]
        for replica in rest:
            self.launch(replica)
        await wait_healthy([r.managed for r in rest if r.managed], timeout=120)

    async def _start_simulators(self, stack: AsyncExitStack) -> None:
        psa = await stack.enter_async_context(running_psa_simulator())
        self.psa = psa
        self.urls["psa"] = psa.url
        accounting = TestServer(accounting_app(AccountingSimConfig()), host="127.0.0.1")
        await accounting.start_server()
        stack.push_async_callback(accounting.close)
        self.urls["accounting"] = str(accounting.make_url("")).rstrip("/")
        self.gateway_app = gateway_app(GatewaySimConfig(webhook_signing_key=SIGNING_KEY, timeout_hold_seconds=3.0))
        runner = web.AppRunner(self.gateway_app, access_log=None)
        await runner.setup()
        stack.push_async_callback(runner.cleanup)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        self.urls["gateway"] = f"http://127.0.0.1:{port}"
        self.sink = await start_sink("127.0.0.1", smtp_port=0, http_port=0)
        stack.push_async_callback(self.sink.stop)
        self.urls["smtp"] = self.sink.http_url

    @property
    def gateway(self) -> Any:
        """The gateway simulator's state (transactions with their actions, webhooks sent)."""
        return self.gateway_app[GATEWAY_STATE]

    def launch(self, replica: Replica) -> None:
        replica.managed = start_python(replica.name, SERVICES[replica.service],
                                       env={**self.env, "HTTP_PORT": str(replica.port)}, log_dir=self.log_dir,
                                       health_url=f"{replica.url}/health")

    def kill(self, replica: Replica) -> None:
        if replica.managed is not None:
            replica.managed.kill()

    async def restart(self, replica: Replica) -> None:
        if replica.alive:
            return
        self.launch(replica)
        await wait_healthy([replica.managed], timeout=120)  # type: ignore[list-item]

    def stop_services(self) -> None:
        for replica in self.all_replicas():
            if replica.managed is not None:
                replica.managed.stop(timeout=10)

    async def _delete_topics(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=10_000)
        try:
            await admin.start()
            mine = [t for t in await admin.list_topics() if t.startswith(self.prefix)]
            if mine:
                await admin.delete_topics(mine, timeout_ms=10_000)
        except Exception:  # noqa: BLE001 - a topic left behind costs memory, not correctness
            pass
        finally:
            await admin.close()

    def log_tail(self, replica: Replica, chars: int = 2500) -> str:
        if replica.managed is None or not replica.managed.log_file.exists():
            return ""
        return replica.managed.log_file.read_text(errors="replace")[-chars:]

    # -- HTTP ------------------------------------------------------------------------------
    async def api(self, service: str, method: str, path: str, body: Any = None, token: str = ADMIN,
                  headers: dict[str, str] | None = None, url: str | None = None) -> tuple[int, Any]:
        """One call to any replica of `service`; (status, JSON body or None)."""
        base = url or self.url(service)
        async with self.http.request(method, base + path, json=body,
                                     headers={"Authorization": f"Bearer {token}", **(headers or {})}) as answer:
            text = await answer.text()
            try:
                payload = json.loads(text) if text else None
            except json.JSONDecodeError:
                payload = text
            return answer.status, payload

    async def api_retrying(self, service: str, method: str, path: str, body: Any = None, token: str = ADMIN,
                           timeout: float = 60.0, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """As `api`, retried on connection errors and 5xx (a replica down, the database bouncing)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                status, payload = await self.api(service, method, path, body, token, headers)
                if status < 500:
                    return status, payload
            except (aiohttp.ClientError, asyncio.TimeoutError):
                status, payload = 0, None
            if asyncio.get_running_loop().time() > deadline:
                return status, payload
            await asyncio.sleep(0.3)

    async def sim(self, name: str, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, self.urls[name] + path, json=body) as answer:
            assert answer.status < 300, f"{name} {method} {path}: {answer.status} {await answer.text()}"
            return await answer.json(content_type=None)

    async def point_webhooks(self) -> None:
        """The gateway sends each batch of webhooks to one live payments replica (a load balancer would)."""
        live = [r for r in self.replicas["payments"] if r.alive] or self.replicas["payments"]
        self.gateway.config.webhook_url = f"{self.rng.choice(live).url}/v1/webhooks/gateway"
