"""The demo world `make up` leaves ready (DEMO=0 skips it): three client organizations with contacts,
invoices and quotes in the PSA simulator, both integrations configured, payment processing active,
and a first sync run completed, so that a manager who signs in finds payable invoices at once.

Seeding happens once per world: the simulators keep their state between `make up`s, so a world that
already has the demo companies is only synced again."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

COMPANIES = [(678, "Acme Dental"), (679, "Birch Legal LLP"), (680, "Cobalt Logistics")]
CONTACTS = [
    (901, 678, "Pat", "Acme", "pat@acme.example", True),
    (902, 678, "Sam", "Okafor", "sam@acme.example", False),
    (903, 679, "Lee", "Birch", "ap@birch.example", True),
    (904, 680, "Kim", "Novak", "billing@cobalt.example", True),
]
INVOICES = [(5001, 678, 1250.00, "2026-11-01"), (5002, 678, 480.00, "2026-11-15"), (5003, 678, 99.00, "2026-11-20"),
            (5004, 679, 2200.00, "2026-11-03"), (5005, 679, 300.00, "2026-11-18"), (5006, 680, 760.00, "2026-11-10")]
OPPORTUNITIES = [
    {"id": 61, "companyID": 678, "title": "Firewall refresh", "status": 1, "amount": 3400.0,
     "userDefinedFields": [{"name": "Quote URL", "value": "https://quotes.msp.example/61"}]},
    {"id": 62, "companyID": 678, "title": "Backup expansion", "status": 1, "amount": 900.0,
     "userDefinedFields": [{"name": "Quote URL", "value": ""}]},
]
PROCESSING = {
    "active": True, "currency": "USD", "accept_payments_in": ["autotask", "client_portal"],
    "payment_types": {"autotask": ["credit_card", "echeck"], "client_portal": ["credit_card", "echeck"]},
    "public_key": "sim-public-key", "private_key": "sim-private-key",
    "refund_via_gateway": False, "auto_cancel_unsettled": True,
}


class Demo:
    def __init__(self, http: aiohttp.ClientSession, urls: dict[str, str], admin_token: str) -> None:
        self.http, self.urls, self.auth = http, urls, {"Authorization": f"Bearer {admin_token}"}

    async def call(self, method: str, url: str, body: Any = None, *, auth: bool = True) -> tuple[int, Any]:
        async with self.http.request(method, url, json=body, headers=self.auth if auth else None) as answer:
            return answer.status, await answer.json(content_type=None) if answer.status != 204 else None

    async def seed_psa(self) -> bool:
        psa = self.urls["psa"]
        _, companies = await self.call("GET", f"{psa}/_sim/companies", auth=False)
        if any(c.get("id") == 678 for c in companies or []):
            return False
        for company_id, name in COMPANIES:
            await self.call("POST", f"{psa}/_sim/companies", {"id": company_id, "companyName": name}, auth=False)
        for contact_id, company_id, first, last, email, primary in CONTACTS:
            await self.call("POST", f"{psa}/_sim/contacts", {
                "id": contact_id, "companyID": company_id, "firstName": first, "lastName": last,
                "emailAddress": email, "isActive": 1, "primaryContact": primary, "billingContact": primary},
                auth=False)
        for invoice_id, company_id, total, issued in INVOICES:
            await self.call("POST", f"{psa}/_sim/invoices", {
                "id": invoice_id, "companyID": company_id, "invoiceTotal": total,
                "invoiceDateTime": f"{issued}T00:00:00", "dueDate": "2026-12-31T00:00:00"}, auth=False)
        for opportunity in OPPORTUNITIES:
            await self.call("POST", f"{psa}/_sim/opportunities", opportunity, auth=False)
        return True

    async def configure(self) -> None:
        sync, payments = self.urls["sync"], self.urls["payments"]
        if (await self.call("GET", f"{sync}/v1/integrations/quickbooks"))[0] == 404:
            await self._put(f"{sync}/v1/integrations/quickbooks", {
                "base_url": self.urls["accounting"], "realm_id": "sim-realm", "client_id": "sim-client",
                "client_secret": "sim-client-secret", "refresh_token": "sim-refresh-token"})
        if (await self.call("GET", f"{sync}/v1/integrations/autotask"))[0] == 404:
            await self._put(f"{sync}/v1/integrations/autotask", {
                "username": "api@msp.example", "secret": "sim-secret", "integration_code": "SIMINTEGRATIONCODE000000000000",
                "base_url": f"{self.urls['psa']}/atservicesrest/", "quote_url_field": "Quote URL",
                "sync_interval_minutes": 60})
        _, processing = await self.call("GET", f"{payments}/v1/settings/payment-processing")
        if not processing.get("active"):
            await self._put(f"{payments}/v1/settings/payment-processing",
                            {k: v for k, v in PROCESSING.items() if k != "currency" or not processing.get("currency")})

    async def _put(self, url: str, body: dict[str, Any]) -> None:
        status, answer = await self.call("PUT", url, body)
        if status != 200:
            raise RuntimeError(f"PUT {url} answered {status}: {answer}")

    async def first_sync(self, timeout: float = 180) -> dict[str, Any]:
        status, started = await self.call("POST", f"{self.urls['sync']}/v1/sync/runs", {})
        if status != 202:
            raise RuntimeError(f"the demo's sync run did not start: {status} {started}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, run = await self.call("GET", f"{self.urls['sync']}/v1/sync/runs/{started['run_id']}")
            if run["status"] != "running":
                return run
            await asyncio.sleep(0.5)
        raise TimeoutError("the demo's first sync run did not end in time")


async def seed(urls: dict[str, str], admin_token: str) -> str:
    """Seed (once) and sync; returns one line saying what was done."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        demo = Demo(http, urls, admin_token)
        fresh = await demo.seed_psa()
        await demo.configure()
        run = await demo.first_sync()
    if run["status"] != "completed":
        return f"demo world: the sync run ended {run['status']}: {run.get('reason')}"
    if not fresh:
        return "demo world kept from the last make up, and synced again (make clean starts a fresh one)"
    invoices = run["entities"].get("invoices", {}).get("fetched", 0)
    return f"demo world seeded and synced: {len(COMPANIES)} organizations, {invoices} invoices synced"
