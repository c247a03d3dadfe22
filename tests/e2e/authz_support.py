"""The world of the authorization matrix (test_authorization_matrix.py): sync, payments, notifications and
the portal as processes with the PSA, accounting and gateway simulators and an SMTP sink, and two
organizations, A (autotask:678) and B (autotask:679), each with a contact who can pay, a synced payable
invoice, a payment and a stored payment method; a sync run and a delivered email exist too. The
principals are the machine tokens of API_TOKENS and the identities the portal signs for people."""
from __future__ import annotations

import asyncio
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web

from billing_shared.secrets import new_key
from billing_shared.web.identity import Identity, sign
from billing_simulators.gateway import GatewaySimConfig
from billing_simulators.gateway import create_app as create_gateway_sim
from billing_simulators.smtp_sink import start_sink
from devstack.ports import free_port
from tests.e2e.conftest import System, auth
from tests.e2e.payments_support import ACTIVE_SETTINGS
from tests.e2e.sync_support import PSA_CODE, PSA_SECRET, PSA_USER, Sims, seed_customer, seed_invoice, simulators
from tests.support import eventually

SIGNING_KEY = "authz-signing-key"
PASSWORD = "authz-test-password"
ORG = {"A": "autotask:678", "B": "autotask:679"}
CONTACT = {"A": "autotask:901", "B": "autotask:903"}
ADMIN, MANAGER, CLIENT_A, CLIENT_B = "authz-admin", "authz-manager", "authz-client-a", "authz-client-b"
TOKENS = [
    {"token": ADMIN, "role": "admin"},
    {"token": MANAGER, "role": "manager"},
    {"token": CLIENT_A, "role": "client", "organization_id": ORG["A"], "contact_id": CONTACT["A"]},
    {"token": CLIENT_B, "role": "client", "organization_id": ORG["B"], "contact_id": CONTACT["B"]},
]
USERS = [
    {"email": "admin@msp.example", "password": PASSWORD, "role": "admin"},
    {"email": "manager@msp.example", "password": PASSWORD, "role": "manager"},
    {"email": "pat@acme.example", "password": PASSWORD, "role": "client",
     "organization_id": ORG["A"], "contact_id": CONTACT["A"]},
    {"email": "lee@birch.example", "password": PASSWORD, "role": "client",
     "organization_id": ORG["B"], "contact_id": CONTACT["B"]},
    {"email": "nia@acme.example", "password": PASSWORD, "role": "client",  # given a profile that allows nothing
     "organization_id": ORG["A"], "contact_id": "autotask:902"},
]
NOTHING_PROFILE = "00000000-0000-0000-0000-00000000000a"
ALL_PERMISSIONS = frozenset({"view_invoices", "make_payments", "view_quotes", "autopay"})  # the Default profile


@dataclass(frozen=True)
class Principal:
    """Who calls: `role` None is nobody (no token); `org` is "A" or "B" for a client."""
    name: str
    role: str | None
    org: str | None = None
    limited: bool = False  # a client person whose profile allows nothing (no permissions claimed)


PRINCIPALS = (
    Principal("no token", None),
    Principal("admin token", "admin"), Principal("manager token", "manager"),
    Principal("client A token", "client", "A"), Principal("client B token", "client", "B"),
    Principal("portal admin", "admin"), Principal("portal manager", "manager"),
    Principal("portal client A", "client", "A"), Principal("portal client B", "client", "B"),
    Principal("portal client A, no permissions", "client", "A", limited=True),
    # not principals at all, whatever they claim: answered as no token (401)
    Principal("portal admin signed with another key", None), Principal("portal admin expired", None),
)


@dataclass
class Reply:
    status: int
    body: Any


@dataclass
class AuthzWorld:
    system: System
    sims: Sims
    gateway: str
    http: aiohttp.ClientSession
    # what exists, per organization: invoice, payment, method (stored payment method); and run, delivery
    ids: dict[str, dict[str, str]] = field(default_factory=lambda: {"A": {}, "B": {}})
    run_id: str = ""
    delivery_id: str = ""
    reconciliation_id: str = ""
    drift_id: str = ""  # a drift of that reconciliation, explained already (so acting on it again is a 409)
    webhook_id: str = ""  # an outbound webhook subscription (to sync.started and payment.succeeded)
    webhook_message_id: str = ""  # one of its messages
    bearer: dict[str, str | None] = field(default_factory=dict)

    async def reconcile(self) -> None:
        """A reconciliation of today with one drift (a sale made in the gateway's own terminal), explained."""
        async with self.http.post(f"{self.gateway}/_sim/transactions", json={"amount": "9.99"}) as made:
            assert made.status == 201
        run = await self.ok("payments", "POST", "/v1/reconciliation/runs", {
            "from_date": time.strftime("%Y-%m-%d", time.gmtime()), "to_date": time.strftime("%Y-%m-%d", time.gmtime())},
            expect=202)
        self.reconciliation_id = run["run_id"]

        async def drift() -> str | None:
            report = await self.ok("payments", "GET", f"/v1/reconciliation/runs/{self.reconciliation_id}")
            return report["drifts"][0]["drift_id"] if report["drifts"] else None
        self.drift_id = await eventually(drift, timeout=60, interval=0.3)
        await self.ok("payments", "POST", f"/v1/reconciliation/drifts/{self.drift_id}/explain", {"note": "a test sale"})

    def url(self, service: str) -> str:
        return self.system.urls[service]

    async def subscribe_webhook(self) -> str:
        """A subscription whose receiver refuses (notifications' own /health takes no POST): its messages wait."""
        created = await self.ok("notifications", "POST", "/v1/webhooks/subscriptions", {
            "url": self.url("notifications") + "/health", "event_types": ["sync.started", "payment.succeeded"]},
            expect=201)
        return created["subscription_id"]

    def mint_bearers(self) -> None:
        """Machine tokens, and identities signed exactly as the portal signs them (IDENTITY_KEY)."""
        key = self.system.env["IDENTITY_KEY"]
        by_name = {"admin token": ADMIN, "manager token": MANAGER, "client A token": CLIENT_A,
                   "client B token": CLIENT_B, "no token": None}
        admin = Identity(subject=str(uuid.uuid4()), role="admin")
        self.bearer["portal admin signed with another key"] = sign(admin, secrets.token_urlsafe(48))
        self.bearer["portal admin expired"] = sign(admin, key, lifetime_seconds=60, now=time.time() - 3600)
        for p in PRINCIPALS:
            if p.name in self.bearer:
                continue
            if p.name in by_name:
                self.bearer[p.name] = by_name[p.name]
                continue
            org = ORG[p.org] if p.org else None
            self.bearer[p.name] = sign(Identity(
                subject=str(uuid.uuid4()), role=p.role or "", organization_id=org,
                contact_id=CONTACT[p.org] if p.org else None,
                permissions=(frozenset() if p.limited else ALL_PERMISSIONS) if p.role == "client" else None),
                key, lifetime_seconds=3600)

    async def call(self, service: str, method: str, path: str, body: Any = None, *, who: str | None = "admin token",
                   headers: dict[str, str] | None = None) -> Reply:
        token = self.bearer.get(who) if who else None
        sent = {**(auth(token) if token else {}), **(headers or {})}
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        async with self.http.request(method, self.url(service) + path, headers=sent, allow_redirects=False,
                                     **kwargs) as answer:
            text = await answer.text()
            try:
                payload = json.loads(text) if text else None
            except ValueError:
                payload = text[:300]
            return Reply(answer.status, payload)

    async def ok(self, service: str, method: str, path: str, body: Any = None, expect: int = 200,
                 **kw: Any) -> Any:
        reply = await self.call(service, method, path, body, **kw)
        assert reply.status == expect, (method, path, reply)
        return reply.body

    async def pay(self, org: str, amount: str = "1.00") -> str:
        body = {"invoice_id": self.ids[org]["invoice"], "amount": amount, "contact_id": CONTACT[org],
                "payment_method": {"token": "tok_visa_approved"}}
        paid = await self.ok("payments", "POST", "/v1/payments", body, 201, who="manager token",
                             headers={"Idempotency-Key": str(uuid.uuid4())})
        return paid["payment_id"]

    async def store_method(self, org: str) -> str:
        stored = await self.ok("payments", "POST", f"/v1/organizations/{ORG[org]}/wallet",
                               {"token": "tok_visa_approved", "contact_id": CONTACT[org]}, 201, who="manager token")
        return stored["method_id"]

    async def connect_quickbooks(self) -> None:
        await self.ok("sync", "PUT", "/v1/integrations/quickbooks", self.sims.quickbooks_body())

    async def connect_ticketing(self) -> None:
        await self.ok("notifications", "PUT", "/v1/settings/ticketing/connection", {
            "username": PSA_USER, "secret": PSA_SECRET, "integration_code": PSA_CODE,
            "base_url": self.sims.psa.zone_lookup_base})

    async def sync_now(self) -> str:
        started = await self.ok("sync", "POST", "/v1/sync/runs", {}, 202)

        async def over() -> bool:
            run = await self.ok("sync", "GET", f"/v1/sync/runs/{started['run_id']}")
            assert run["status"] in ("running", "completed"), run
            return run["status"] == "completed"
        await eventually(over, timeout=60, interval=0.3)
        return started["run_id"]

    async def build(self) -> None:
        self.mint_bearers()
        self.webhook_id = await self.subscribe_webhook()  # before the sync run and the payments it will carry
        await seed_customer(self.sims, 678, "Acme Dental", 901)
        await seed_customer(self.sims, 679, "Birch Legal", 903)
        await self.sims.psa_call("POST", "/_sim/contacts", {
            "id": 902, "companyID": 678, "firstName": "Nia", "lastName": "Viewer", "emailAddress": "nia@acme.example",
            "isActive": 1, "primaryContact": False, "billingContact": False})
        await seed_invoice(self.sims, 7001, "500.00", 678)
        await seed_invoice(self.sims, 7002, "500.00", 679)
        await self.connect_quickbooks()
        await self.connect_ticketing()
        await self.ok("sync", "PUT", "/v1/integrations/autotask", {
            "username": PSA_USER, "secret": PSA_SECRET, "integration_code": PSA_CODE, "base_url": self.sims.psa.url,
            "quote_url_field": "Quote URL", "sync_interval_minutes": 60})
        await self.ok("payments", "PUT", "/v1/settings/payment-processing", ACTIVE_SETTINGS)
        self.run_id = await self.sync_now()
        self.ids["A"]["invoice"], self.ids["B"]["invoice"] = "autotask:7001", "autotask:7002"

        async def ready() -> bool:
            conn = await asyncpg.connect(self.system.env["DATABASE_URL"])
            try:
                contacts = await conn.fetchval("SELECT count(*) FROM payments.contacts WHERE active AND contact_id = "
                                               "ANY($1::text[])", list(CONTACT.values()))
            finally:
                await conn.close()
            if contacts != 2:
                return False
            for org in "AB":
                invoice = await self.call("payments", "GET", f"/v1/invoices/{self.ids[org]['invoice']}")
                if invoice.status != 200 or not invoice.body.get("payable"):
                    return False
            return True
        await eventually(ready, timeout=60, interval=0.3)
        for org in "AB":
            self.ids[org]["payment"] = await self.pay(org)
            self.ids[org]["method"] = await self.store_method(org)

        conn = await asyncpg.connect(self.system.env["DATABASE_URL"])
        try:  # the admin page's effect (tests/browser/test_portal_client_profiles.py drives the page itself)
            await conn.execute("INSERT INTO portal.client_profiles (profile_id, name, view_invoices, make_payments, "
                               "view_quotes) VALUES ($1, 'Nothing', false, false, false)", uuid.UUID(NOTHING_PROFILE))
            await conn.execute("UPDATE portal.users SET profile_id = $1 WHERE email = 'nia@acme.example'",
                               uuid.UUID(NOTHING_PROFILE))
        finally:
            await conn.close()

        await self.reconcile()

        async def message() -> str | None:
            page = await self.ok("notifications", "GET", f"/v1/webhooks/subscriptions/{self.webhook_id}/messages")
            return page["items"][0]["message_id"] if page["items"] else None
        self.webhook_message_id = await eventually(message, timeout=60, interval=0.3)

        async def delivered() -> str | None:  # the receipt of a payment, emailed to the SMTP sink
            page = await self.ok("notifications", "GET", "/v1/deliveries?status=delivered")
            return page["items"][0]["delivery_id"] if page["items"] else None
        self.delivery_id = await eventually(delivered, timeout=60, interval=0.3)


def _env(infra: Any, database_url: str, topic_prefix: str, gateway: str, smtp_port: int) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": topic_prefix, "API_TOKENS": json.dumps(TOKENS), "SECRETS_KEY": new_key(),
        "IDENTITY_KEY": secrets.token_urlsafe(48), "PORTAL_USERS": json.dumps(USERS),
        "LOG_FORMAT": "json", "OUTBOX_POLL_SECONDS": "0.1", "SCHEDULER_TICK_SECONDS": "0.5",
        "WRITEBACK_POLL_SECONDS": "0.5", "WRITEBACK_RETRY_SECONDS": "0.2",
        "GATEWAY_BASE_URL": gateway, "GATEWAY_WEBHOOK_SIGNING_KEY": SIGNING_KEY, "GATEWAY_TIMEOUT_SECONDS": "2",
        "RECONCILE_INTERVAL_SECONDS": "0.3", "PENDING_GRACE_SECONDS": "3",
        "PSA_USERNAME": "", "PSA_SECRET": "", "PSA_INTEGRATION_CODE": "",
        "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp_port), "DELIVERY_POLL_SECONDS": "0.1",
    }


@asynccontextmanager
async def authz_world(infra: Any, database_url: str, topic_prefix: str, log_dir: Path) -> AsyncIterator[AuthzWorld]:
    payments_port, gateway_port = free_port(), free_port()
    runner = web.AppRunner(create_gateway_sim(GatewaySimConfig(
        webhook_signing_key=SIGNING_KEY, webhook_url=f"http://127.0.0.1:{payments_port}/v1/webhooks/gateway")))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", gateway_port).start()
    gateway = f"http://127.0.0.1:{gateway_port}"
    sink = await start_sink("127.0.0.1", smtp_port=0, http_port=0)
    system = System(_env(infra, database_url, topic_prefix, gateway, sink.smtp_port), log_dir)
    system.urls["payments"] = f"http://127.0.0.1:{payments_port}"
    system.urls["portal"] = f"http://127.0.0.1:{free_port()}"
    system.env["PORTAL_PUBLIC_URL"] = system.urls["portal"]
    try:
        await asyncio.gather(*(system.start(name) for name in ("sync", "payments", "notifications")))
        system.env.update(SYNC_URL=system.urls["sync"], PAYMENTS_URL=system.urls["payments"],
                          NOTIFICATIONS_URL=system.urls["notifications"])
        await system.start("portal")
        async with simulators() as sims, aiohttp.ClientSession() as http:
            world = AuthzWorld(system, sims, gateway, http)
            await world.build()
            yield world
    finally:
        system.stop_all()
        await sink.stop()
        await runner.cleanup()
