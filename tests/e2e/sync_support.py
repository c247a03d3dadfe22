"""Helpers of the sync tests: the simulators in-process, the sync service in-process or as a process,
and small clients for their APIs."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from billing_shared.secrets import new_key
from billing_simulators.accounting import AccountingSimConfig
from billing_simulators.accounting import create_app as accounting_app
from billing_simulators.psa import PsaSimConfig, RunningPsaSimulator, running_psa_simulator
from billing_sync.bootstrap import build_app
from billing_sync.config import SyncSettings
from tests.support import eventually

ADMIN, MANAGER, CLIENT = "sync-admin", "sync-manager", "sync-client"
TOKENS = [
    {"token": ADMIN, "role": "admin"},
    {"token": MANAGER, "role": "manager"},
    {"token": CLIENT, "role": "client", "organization_id": "autotask:678", "contact_id": "autotask:901"},
]
PSA_USER, PSA_SECRET, PSA_CODE = "api@msp.example", "sim-secret", "SIMINTEGRATIONCODE000000000000"


def auth(token: str = ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Sims:
    psa: RunningPsaSimulator
    accounting: TestServer
    http: aiohttp.ClientSession

    @property
    def accounting_url(self) -> str:
        return str(self.accounting.make_url("")).rstrip("/")

    async def psa_call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, self.psa.url + path, json=body) as response:
            assert response.status < 300, await response.text()
            return await response.json()

    async def acct_call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, self.accounting_url + path, json=body) as response:
            assert response.status < 300, await response.text()
            return await response.json()

    def autotask_body(self, **overrides: Any) -> dict[str, Any]:
        return {"username": PSA_USER, "secret": PSA_SECRET, "integration_code": PSA_CODE,
                "base_url": self.psa.zone_lookup_base, "quote_url_field": "Quote URL",
                "sync_interval_minutes": 60, **overrides}

    def quickbooks_body(self, **overrides: Any) -> dict[str, Any]:
        return {"base_url": self.accounting_url, "realm_id": "sim-realm", "client_id": "sim-client",
                "client_secret": "sim-client-secret", "refresh_token": "sim-refresh-token", **overrides}


@asynccontextmanager
async def simulators(psa: PsaSimConfig | None = None,
                     accounting: AccountingSimConfig | None = None) -> AsyncIterator[Sims]:
    server = TestServer(accounting_app(accounting or AccountingSimConfig()), host="127.0.0.1")
    await server.start_server()
    try:
        async with running_psa_simulator(psa) as psa_sim, aiohttp.ClientSession() as http:
            yield Sims(psa_sim, server, http)
    finally:
        await server.close()


def sync_settings(infra: Any, database_url: str, topic_prefix: str, **overrides: Any) -> SyncSettings:
    values: dict[str, Any] = dict(
        database_url=database_url, kafka_bootstrap_servers=infra.kafka_bootstrap, kafka_topic_prefix=topic_prefix,
        api_tokens=json.dumps(TOKENS), secrets_key=new_key(), outbox_poll_seconds=0.1,
        scheduler_tick_seconds=0.5, writeback_retry_seconds=0.2, writeback_poll_seconds=0.5,
        quickbooks_throttle_wait_seconds=0.2, log_format="console", log_level="WARNING",
    )
    values.update(overrides)
    return SyncSettings(**values)


@dataclass
class SyncApi:
    url: str
    http: aiohttp.ClientSession
    admin: str = ADMIN  # the token used when a call names none

    async def call(self, method: str, path: str, body: Any = None, token: str | None = None,
                   expect: int | None = None) -> Any:
        headers = auth(token or self.admin)
        async with self.http.request(method, self.url + path, json=body, headers=headers) as response:
            payload = await response.json() if response.content_type == "application/json" else await response.read()
            if expect is not None:
                assert response.status == expect, (response.status, payload)
            return payload

    async def setup(self, sims: Sims, *, quickbooks: bool = True, **autotask: Any) -> None:
        if quickbooks:
            await self.call("PUT", "/v1/integrations/quickbooks", sims.quickbooks_body(), expect=200)
        await self.call("PUT", "/v1/integrations/autotask", sims.autotask_body(**autotask), expect=200)

    async def run_to_end(self, *, timeout: float = 60.0, body: dict | None = None) -> dict[str, Any]:
        """Start a run (or join the one going) and wait until it is over."""
        started = await self.call("POST", "/v1/sync/runs", body or {}, expect=202)
        return await self.wait_run(started["run_id"], timeout=timeout)

    async def wait_run(self, run_id: str, *, timeout: float = 60.0) -> dict[str, Any]:
        async def finished() -> dict[str, Any] | None:
            run = await self.call("GET", f"/v1/sync/runs/{run_id}", expect=200)
            return run if run["status"] != "running" else None

        return await eventually(finished, timeout=timeout, interval=0.2)


@asynccontextmanager
async def sync_in_process(settings: SyncSettings) -> AsyncIterator[SyncApi]:
    """The sync service in this process (its consumers, relay and workers on the test's loop)."""
    server = TestServer(build_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield SyncApi(str(server.make_url("")).rstrip("/"), http)
    finally:
        await server.close()


async def seed_customer(sims: Sims, company_id: int = 678, name: str = "Acme Dental", contact_id: int = 901) -> None:
    await sims.psa_call("POST", "/_sim/companies", {"id": company_id, "companyName": name})
    await sims.psa_call("POST", "/_sim/contacts", {
        "id": contact_id, "companyID": company_id, "firstName": "Ada", "lastName": "Payer",
        "emailAddress": "ap@acme.example", "isActive": 1, "primaryContact": True, "billingContact": True})


async def seed_invoice(sims: Sims, invoice_id: int, total: str, company_id: int = 678, **extra: Any) -> dict:
    return await sims.psa_call("POST", "/_sim/invoices", {
        "id": invoice_id, "companyID": company_id, "invoiceTotal": float(total),
        "invoiceDateTime": "2026-11-01T00:00:00", "dueDate": "2026-12-01T00:00:00", **extra})
