"""A payments world for end-to-end tests: its own database and topics, the gateway simulator in this
process, and sync and payments as real processes. Tests share one world per module and keep out of
each other's way by using their own invoices (and organizations where they need to)."""
from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from billing_shared.events.catalog import BILLING_DIRECTORY, BILLING_PAYMENTS, UPSTREAM_INVOICES
from billing_shared.events.directory import ContactData, ContactSynced
from billing_shared.events.upstream import (
    InvoiceUpserted, InvoiceUpsertedData, UpstreamInvoiceVoided, UpstreamInvoiceVoidedData, UpstreamOrganization,
)
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_shared.money import money
from billing_shared.secrets import new_key
from billing_simulators.gateway import GatewaySimConfig, create_app
from devstack.ports import free_port
from devstack.processes import Managed, start_python, wait_healthy
from tests.e2e.conftest import ADMIN, CLIENT, MANAGER, TOKENS, auth
from tests.support import eventually, read_topic

SIGNING_KEY = "e2e-signing-key"
ACTIVE_SETTINGS = {
    "active": True, "currency": "USD", "accept_payments_in": ["autotask", "client_portal"],
    "payment_types": {"autotask": ["credit_card", "echeck"], "client_portal": ["credit_card"]},
    "public_key": "sim-public-key", "private_key": "sim-private-key",
    "refund_via_gateway": False, "auto_cancel_unsettled": True,
}
_numbers = itertools.count(5000)


@dataclass
class Reply:
    status: int
    body: Any


@dataclass
class PaymentsWorld:
    bootstrap: str
    database_url: str
    prefix: str
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    processes: dict[str, Managed] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    # Every payment names a known, active contact of the invoice's organization: one payer per organization
    # is published on billing.directory.v1 when first needed, and staff pay as it unless a test names another.
    invoice_organizations: dict[str, str] = field(default_factory=dict)
    payers: dict[str, str] = field(default_factory=dict)

    @property
    def names(self) -> TopicNames:
        return TopicNames(self.prefix)

    async def start(self, *, gateway_hold_seconds: float = 3.0, **payments_env: str) -> None:
        await ensure_topics(self.bootstrap, self.names.all())
        self.http = aiohttp.ClientSession()
        self.producer = make_producer(self.bootstrap)
        await self.producer.start()
        payments_port = free_port()
        self.urls["payments"] = f"http://127.0.0.1:{payments_port}"
        sim = create_app(GatewaySimConfig(webhook_url=f"{self.urls['payments']}/v1/webhooks/gateway",
                                          webhook_signing_key=SIGNING_KEY, timeout_hold_seconds=gateway_hold_seconds))
        self.sim_runner = web.AppRunner(sim)
        await self.sim_runner.setup()
        sim_port = free_port()
        await web.TCPSite(self.sim_runner, "127.0.0.1", sim_port).start()
        self.urls["gateway"] = f"http://127.0.0.1:{sim_port}"
        self.env = {
            "DATABASE_URL": self.database_url, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_TOPIC_PREFIX": self.prefix, "API_TOKENS": json.dumps(TOKENS), "SECRETS_KEY": new_key(),
            "LOG_FORMAT": "json", "OUTBOX_POLL_SECONDS": "0.1", "GATEWAY_BASE_URL": self.urls["gateway"],
            "GATEWAY_WEBHOOK_SIGNING_KEY": SIGNING_KEY, "GATEWAY_TIMEOUT_SECONDS": "1",
            "RECONCILE_INTERVAL_SECONDS": "0.2", "PENDING_GRACE_SECONDS": "2",
        }
        await self.start_service("sync", "billing_sync")
        await self.start_service("payments", "billing_payments", port=payments_port, **payments_env)
        client = next(t for t in TOKENS if t["token"] == CLIENT)
        await self.contact(client["contact_id"], client["organization_id"])  # the client pays as itself

    async def start_service(self, name: str, module: str, port: int | None = None, **extra: str) -> None:
        port = port or free_port()
        self.urls[name] = f"http://127.0.0.1:{port}"
        self.processes[name] = start_python(name, module, env={**self.env, **extra, "HTTP_PORT": str(port)},
                                            log_dir=self.log_dir, health_url=f"{self.urls[name]}/health")
        await wait_healthy([self.processes[name]], timeout=60)

    async def stop(self) -> None:
        for managed in self.processes.values():
            managed.stop()
        await self.producer.stop()
        await self.http.close()
        await self.sim_runner.cleanup()

    # -- the outside world -------------------------------------------------------------------
    async def invoice(self, total: str, *, organization: str = "678", number: str | None = "auto",
                      currency: str = "USD", wait: bool = True) -> str:
        """Publish an upstream invoice; returns its id once payments shows it."""
        external_id = str(next(_numbers))
        invoice_number = str(int(external_id) + 10000) if number == "auto" else number
        event = InvoiceUpserted.new(producer="e2e", organization_id=f"autotask:{organization}", data=InvoiceUpsertedData(
            source="autotask", external_id=external_id, version=1,
            organization=UpstreamOrganization(external_id=organization, name=f"Organization {organization}"),
            invoice_number=invoice_number, issued_on=date(2026, 11, 1), due_on=date(2026, 12, 1),
            currency=currency, total=money(total)))  # type: ignore[arg-type]
        await self.producer.send_and_wait(self.names(UPSTREAM_INVOICES), event.to_json(),
                                          key=event.organization_id.encode())
        invoice_id = f"autotask:{external_id}"
        self.invoice_organizations[invoice_id] = event.organization_id
        if wait:
            await eventually(lambda: self.find_invoice(invoice_id), timeout=30)
        return invoice_id

    async def void(self, invoice_id: str, version: int = 2) -> None:
        source, external_id = invoice_id.split(":")
        event = UpstreamInvoiceVoided.new(producer="e2e", organization_id="autotask:any",
                                          data=UpstreamInvoiceVoidedData(source=source, external_id=external_id,
                                                                         version=version))
        await self.producer.send_and_wait(self.names(UPSTREAM_INVOICES), event.to_json(), key=b"autotask:any")

    async def contact(self, contact_id: str, organization_id: str, *, active: bool = True, wait: bool = True) -> None:
        """Publish a contact on billing.directory.v1; by default, return once payments has it."""
        event = ContactSynced.new(producer="e2e", organization_id=organization_id, data=ContactData(
            contact_id=contact_id, organization_id=organization_id, name="Pat Payer", email="pat@example.com",
            active=active))
        await self.producer.send_and_wait(self.names(BILLING_DIRECTORY), event.to_json(),
                                          key=organization_id.encode())
        if wait:
            async def known() -> bool:
                conn = await asyncpg.connect(self.database_url)
                try:
                    row = await conn.fetchrow("SELECT organization_id, active FROM payments.contacts "
                                              "WHERE contact_id = $1", contact_id)
                finally:
                    await conn.close()
                return row is not None and (row["organization_id"], row["active"]) == (organization_id, active)
            await eventually(known, timeout=30, interval=0.2)

    async def payer(self, organization_id: str) -> str:
        """A contact of the organization that payments knows (published the first time it is asked for)."""
        if organization_id not in self.payers:
            contact_id = f"autotask:payer-{organization_id.split(':', 1)[1]}"
            await self.contact(contact_id, organization_id)
            self.payers[organization_id] = contact_id
        return self.payers[organization_id]

    # -- the payments API --------------------------------------------------------------------
    async def call(self, method: str, path: str, token: str = MANAGER, body: Any = None,
                   headers: dict[str, str] | None = None, service: str = "payments") -> Reply:
        async with self.http.request(method, f"{self.urls[service]}{path}", json=body,
                                     headers={**auth(token), **(headers or {})}) as response:
            text = await response.text()
            return Reply(response.status, json.loads(text) if text else None)

    async def configure(self, **changes: Any) -> Reply:
        reply = await self.call("PUT", "/v1/settings/payment-processing", ADMIN, {**ACTIVE_SETTINGS, **changes})
        assert reply.status == 200, reply
        return reply

    async def pay(self, invoice_id: str, token: str = "tok_visa_approved", *, amount: str | None = None,
                  key: str | None = None, as_: str = MANAGER, method_id: str | None = None, **extra: Any) -> Reply:
        method = {"method_id": method_id} if method_id else {"token": token}
        if as_ != CLIENT and "contact_id" not in extra:  # staff name the payer; a client is its own
            extra["contact_id"] = await self.payer(self.invoice_organizations.get(invoice_id, "autotask:678"))
        body = {"invoice_id": invoice_id, "payment_method": method, **extra}
        if amount is not None:
            body["amount"] = amount
        return await self.call("POST", "/v1/payments", as_, body, {"Idempotency-Key": key or str(uuid.uuid4())})

    async def payment(self, payment_id: str) -> dict[str, Any]:
        reply = await self.call("GET", f"/v1/payments/{payment_id}")
        assert reply.status == 200, reply
        return reply.body

    async def find_invoice(self, invoice_id: str) -> dict[str, Any] | None:
        cursor = None
        while True:
            query = f"?limit=500{'&cursor=' + cursor if cursor else ''}"
            reply = await self.call("GET", f"/v1/invoices{query}")
            for item in reply.body["items"]:
                if item["invoice_id"] == invoice_id:
                    return item
            cursor = reply.body["next_cursor"]
            if not cursor:
                return None

    async def invoice_view(self, invoice_id: str) -> dict[str, Any]:
        found = await self.find_invoice(invoice_id)
        assert found is not None, invoice_id
        return found

    # -- the gateway simulator ----------------------------------------------------------------
    async def sim(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.urls['gateway']}{path}", json=body) as response:
            return await response.json()

    async def sales_of(self, order_id: str) -> list[dict[str, Any]]:
        return [t for t in await self.sim("GET", "/_sim/transactions")
                if t["order_id"] == order_id and t["type"] == "sale"]

    async def payment_events(self, payment_id: str, count: int) -> list[dict[str, Any]]:
        """The events of one payment on billing.payments.v1, in order, once `count` have arrived."""
        async def enough():
            records = await read_topic(self.bootstrap, self.names(BILLING_PAYMENTS), count=0, timeout=5, settle=0.3)
            mine = [json.loads(r.value) for r in records]
            mine = [e for e in mine if e["data"].get("payment_id") == payment_id]
            return mine if len(mine) >= count else None
        return await eventually(enough, timeout=30, interval=0.3)


async def new_world(infra, tmp_dir: Path, **payments_env: str) -> PaymentsWorld:
    name = f"pay_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(infra.postgres_admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    world = PaymentsWorld(infra.kafka_bootstrap, f"{infra.postgres_admin_url.rsplit('/', 1)[0]}/{name}",
                          f"t{uuid.uuid4().hex[:10]}.", tmp_dir)
    await world.start(**payments_env)
    return world
