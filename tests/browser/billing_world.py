"""A billed world for the payment pages: the PSA and accounting simulators in this process, both
integrations and payment processing configured through the APIs, and a first sync run done, so the
organization Acme Dental (autotask:678) has numbered, payable invoices and a contact who can pay."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg

from tests.e2e.conftest import ADMIN, MANAGER, System, auth
from tests.e2e.payments_support import ACTIVE_SETTINGS
from tests.e2e.sync_support import PSA_CODE, PSA_SECRET, PSA_USER, Sims, seed_customer, seed_invoice, simulators
from tests.support import eventually

ORGANIZATION = "autotask:678"
CONTACT = "autotask:901"


@dataclass
class BilledWorld:
    system: System
    sims: Sims
    gateway: str
    http: aiohttp.ClientSession

    @property
    def portal(self) -> str:
        return self.system.urls["portal"]

    async def api(self, service: str, method: str, path: str, body: Any = None, token: str = ADMIN,
                  expect: int | None = 200) -> Any:
        async with self.http.request(method, self.system.urls[service] + path, json=body,
                                     headers=auth(token)) as answer:
            payload = await answer.json(content_type=None)
            assert expect is None or answer.status == expect, (answer.status, payload)
            return payload

    async def sync_now(self) -> None:
        started = await self.api("sync", "POST", "/v1/sync/runs", {}, expect=202)

        async def over() -> bool:
            run = await self.api("sync", "GET", f"/v1/sync/runs/{started['run_id']}")
            assert run["status"] in ("running", "completed"), run
            return run["status"] == "completed"
        await eventually(over, timeout=60, interval=0.3)

    async def invoice(self, external_id: int, total: str) -> str:
        """A new PSA invoice, synced and numbered; returns its id once payments may take it."""
        await seed_invoice(self.sims, external_id, total)
        await self.sync_now()
        return await self.payable(f"autotask:{external_id}")

    async def payable(self, invoice_id: str) -> str:
        async def ready() -> bool:
            invoice = await self.api("payments", "GET", f"/v1/invoices/{invoice_id}", token=MANAGER, expect=None)
            return bool(invoice.get("payable"))
        await eventually(ready, timeout=30, interval=0.3)
        return invoice_id

    async def invoice_view(self, invoice_id: str) -> dict[str, Any]:
        return await self.api("payments", "GET", f"/v1/invoices/{invoice_id}", token=MANAGER)

    async def sales(self) -> list[dict[str, Any]]:
        async with self.http.get(f"{self.gateway}/_sim/transactions") as answer:
            return [t for t in await answer.json() if t["type"] == "sale"]


@asynccontextmanager
async def billed_world(system: System, gateway: str) -> AsyncIterator[BilledWorld]:
    async with simulators() as sims, aiohttp.ClientSession() as http:
        world = BilledWorld(system, sims, gateway, http)
        await seed_customer(sims)
        await world.api("sync", "PUT", "/v1/integrations/quickbooks", sims.quickbooks_body())
        await world.api("sync", "PUT", "/v1/integrations/autotask", {
            "username": PSA_USER, "secret": PSA_SECRET, "integration_code": PSA_CODE, "base_url": sims.psa.url,
            "quote_url_field": "Quote URL", "sync_interval_minutes": 60})
        await world.api("payments", "PUT", "/v1/settings/payment-processing", ACTIVE_SETTINGS)
        await world.sync_now()

        async def payer_known() -> bool:  # payments learns the contact from billing.directory.v1
            conn = await asyncpg.connect(system.env["DATABASE_URL"])
            try:
                return await conn.fetchval("SELECT active FROM payments.contacts WHERE contact_id = $1", CONTACT)
            finally:
                await conn.close()
        await eventually(payer_known, timeout=30, interval=0.3)
        yield world


async def staff_pays(world: BilledWorld, invoice_id: str, amount: str | None = None) -> dict[str, Any]:
    """A payment made through the API (the browser flow has its own tests)."""
    import uuid

    body: dict[str, Any] = {"invoice_id": invoice_id, "contact_id": CONTACT,
                            "payment_method": {"token": "tok_visa_approved"}}
    if amount:
        body["amount"] = amount
    async with world.http.post(world.system.urls["payments"] + "/v1/payments", json=body,
                               headers={**auth(MANAGER), "Idempotency-Key": str(uuid.uuid4())}) as answer:
        paid = await answer.json()
        assert answer.status == 201, paid
        return paid
