"""A seeded mixed workload: PSA invoices and sync runs, upstream invoice events, payments from several
concurrent callers (each retries its own Idempotency-Key after a connection error or a 5xx until it gets
an answer), voids, applies, refunds, cancels, settlements, chargebacks, replayed webhooks and a few
portal sign-ins. Each caller records what it believes happened (Belief), for the checker."""
from __future__ import annotations

import asyncio
import itertools
import random
import re
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import aiohttp

from billing_shared.events.catalog import UPSTREAM_INVOICES
from billing_shared.events.upstream import InvoiceUpserted, InvoiceUpsertedData, UpstreamOrganization
from billing_shared.kafka.clients import make_producer
from billing_shared.money import money
from tests.chaos.harness.system import (
    ADMIN, CLIENT, CONTACT, MANAGER, ORGANIZATION, PAYMENT_SETTINGS, PSA_CODE, PSA_SECRET, PSA_USER, System,
)
from tests.support import eventually

COMPANY, CONTACT_ID = 678, 901
TOKENS = [("tok_visa_approved", 40), ("tok_echeck_approved", 10), ("tok_visa_timeout", 10),
          ("tok_visa_unsettled", 10), ("tok_visa_declined", 10), ("tok_echeck_return", 5), ("stored", 15)]
OPERATIONS = [("pay", 40), ("pay_several", 5), ("new_invoice", 8), ("upstream_invoice", 5), ("void", 4),
              ("apply", 6), ("refund", 5), ("cancel", 5), ("settle", 6), ("chargeback", 3), ("redeliver", 6),
              ("portal", 4)]
PAY_DEADLINE = 90.0  # a caller gives up on its own key only after this long without an answer


@dataclass
class Belief:
    """What one caller believes about one payment request (its Idempotency-Key)."""
    key: str
    body: dict[str, Any]
    answers: list[tuple[int, str | None, str | None]] = field(default_factory=list)  # status, code, payment id
    attempts: int = 0

    @property
    def final(self) -> tuple[int, str | None, str | None] | None:
        return self.answers[-1] if self.answers else None


@dataclass
class Record:
    beliefs: list[Belief] = field(default_factory=list)
    operations: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)  # operation:status
    psa_invoices: list[int] = field(default_factory=list)
    upstream_invoices: list[str] = field(default_factory=list)
    voided: set[int] = field(default_factory=set)
    charged_back: set[str] = field(default_factory=set)  # gateway transaction ids


class Workload:
    def __init__(self, system: System, seed: int, *, callers: int = 4) -> None:
        self.system = system
        self.rng = random.Random(f"workload-{seed}")
        self.callers = callers
        self.record = Record()
        self._ids = itertools.count(70_000 + (seed % 1000) * 100)
        self.producer = None

    # -- setup: both integrations, payment processing, ticketing, a first sync -----------------
    async def setup(self, invoices: int = 8) -> None:
        s = self.system
        await s.sim("psa", "POST", "/_sim/companies", {"id": COMPANY, "companyName": "Acme Dental"})
        await s.sim("psa", "POST", "/_sim/contacts", {
            "id": CONTACT_ID, "companyID": COMPANY, "firstName": "Ada", "lastName": "Payer",
            "emailAddress": "ap@acme.example", "isActive": 1, "primaryContact": True, "billingContact": True})
        for _ in range(invoices):
            await self._seed_psa_invoice()
        await self._ok("sync", "PUT", "/v1/integrations/quickbooks", {
            "base_url": s.urls["accounting"], "realm_id": "sim-realm", "client_id": "sim-client",
            "client_secret": "sim-client-secret", "refresh_token": "sim-refresh-token"})
        await self._ok("sync", "PUT", "/v1/integrations/autotask", {
            "username": PSA_USER, "secret": PSA_SECRET, "integration_code": PSA_CODE, "base_url": s.psa.url,
            "quote_url_field": "Quote URL", "sync_interval_minutes": 60})
        await self._ok("payments", "PUT", "/v1/settings/payment-processing", PAYMENT_SETTINGS)
        await self._ok("notifications", "PUT", "/v1/settings/ticketing",
                       {"queue_id": 5, "issue_type_id": 3, "priority": 2})
        # every money event both ways, so that tickets and emails are counted for all of them
        await self._ok("notifications", "PUT", "/v1/settings/notifications", {
            t: {"email": True, "ticket": True} for t in (
                "payment.succeeded", "payment.cancelled", "payment.charged_back", "payment.settlement_failed",
                "payment.unapplied", "payment.refunded")})
        started = await self._ok("sync", "POST", "/v1/sync/runs", {}, expect=202)

        async def over() -> bool:
            _, run = await s.api_retrying("sync", "GET", f"/v1/sync/runs/{started['run_id']}")
            return run["status"] == "completed"
        await eventually(over, timeout=90, interval=0.5)

        async def payable() -> bool:
            return len(await self.payable_invoices()) >= invoices // 2
        await eventually(payable, timeout=60, interval=0.5)
        self.producer = make_producer(s.bootstrap)
        await self.producer.start()

    async def close(self) -> None:
        if self.producer is not None:
            await self.producer.stop()

    async def _ok(self, service: str, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, payload = await self.system.api_retrying(service, method, path, body)
        assert status == expect, (service, method, path, status, payload)
        return payload

    async def _seed_psa_invoice(self) -> int:
        external_id = next(self._ids)
        total = self.rng.choice(["120.00", "250.00", "300.00", "480.50", "500.00", "999.99"])
        await self.system.sim("psa", "POST", "/_sim/invoices", {
            "id": external_id, "companyID": COMPANY, "invoiceTotal": float(total),
            "invoiceDateTime": "2026-11-01T00:00:00", "dueDate": "2026-12-01T00:00:00"})
        self.record.psa_invoices.append(external_id)
        return external_id

    # -- the run -----------------------------------------------------------------------------
    async def run(self, duration: float) -> Record:
        deadline = time.monotonic() + duration
        await asyncio.gather(*(self._caller(i, deadline) for i in range(self.callers)))
        return self.record

    async def _caller(self, index: int, deadline: float) -> None:
        names, weights = zip(*OPERATIONS)
        while time.monotonic() < deadline:
            op = self.rng.choices(names, weights)[0]
            self.record.operations[op] += 1
            try:
                outcome = await getattr(self, f"op_{op}")()
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                outcome = type(exc).__name__
            except Exception as exc:  # noqa: BLE001 - the workload goes on; the checker judges the end state
                outcome = f"error:{type(exc).__name__}"
            self.record.answers[f"{op}:{outcome}"] += 1
            await asyncio.sleep(self.rng.uniform(0.05, 0.4))

    async def payable_invoices(self) -> list[dict[str, Any]]:
        status, body = await self.system.api_retrying("payments", "GET", "/v1/invoices?limit=500", token=MANAGER,
                                                       timeout=20)
        if status != 200:
            return []
        return [i for i in body["items"] if i.get("payable") and Decimal(i["balance"]) > 0]

    async def payments(self, **query: str) -> list[dict[str, Any]]:
        params = "&".join(f"{k}={v}" for k, v in {"limit": "200", **query}.items())
        status, body = await self.system.api_retrying("payments", "GET", f"/v1/payments?{params}", token=MANAGER,
                                                      timeout=20)
        return body["items"] if status == 200 else []

    # -- payments ----------------------------------------------------------------------------
    async def _method(self, as_client: bool) -> dict[str, Any]:
        names, weights = zip(*TOKENS)
        token = self.rng.choices(names, weights)[0]
        if as_client and token.startswith("tok_echeck"):
            token = "tok_visa_approved"  # the client portal takes cards only (PAYMENT_SETTINGS)
        if token == "stored":
            status, wallet = await self.system.api_retrying(
                "payments", "GET", f"/v1/organizations/{ORGANIZATION}/wallet", token=MANAGER, timeout=20)
            items = wallet.get("items", []) if status == 200 else []
            if items:
                return {"method_id": self.rng.choice(items)["method_id"]}
            return {"token": "tok_visa_approved", "save_to_wallet": True}
        return {"token": token}

    async def _pay(self, body: dict[str, Any], as_client: bool) -> str:
        belief = Belief(str(uuid.uuid4()), body)
        self.record.beliefs.append(belief)
        token = CLIENT if as_client else MANAGER
        deadline = time.monotonic() + PAY_DEADLINE
        while True:
            belief.attempts += 1
            try:
                status, answer = await self.system.api("payments", "POST", "/v1/payments", body, token,
                                                       {"Idempotency-Key": belief.key})
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
                status, answer = 0, None
            code = (answer.get("error") or {}).get("code") if isinstance(answer, dict) else None
            # 409 payment_in_progress on our own key: our earlier attempt is still being decided
            if status and status < 500 and not (status == 409 and code == "payment_in_progress"
                                                 and belief.attempts > 1):
                payment_id = answer.get("payment_id") if isinstance(answer, dict) else None
                belief.answers.append((status, code or (answer or {}).get("status"), payment_id))
                return f"{status}:{code or (answer or {}).get('status')}"
            if time.monotonic() > deadline:
                belief.answers.append((status, "no_answer", None))
                return "no_answer"
            await asyncio.sleep(0.5)

    async def op_pay(self) -> str:
        invoices = await self.payable_invoices()
        if not invoices:
            return "nothing_payable"
        invoice = self.rng.choice(invoices)
        as_client = self.rng.random() < 0.3
        body: dict[str, Any] = {"invoice_id": invoice["invoice_id"], "payment_method": await self._method(as_client)}
        if not as_client:
            body["contact_id"] = CONTACT
        balance = Decimal(invoice["balance"])
        if self.rng.random() < 0.3 and balance > 2:
            body["amount"] = str(money(str(Decimal(self.rng.randint(1, int(balance) - 1)))))
        return await self._pay(body, as_client)

    async def op_pay_several(self) -> str:
        invoices = await self.payable_invoices()
        if len(invoices) < 2:
            return "nothing_payable"
        chosen = self.rng.sample(invoices, 2)
        body = {"invoices": [{"invoice_id": i["invoice_id"]} for i in chosen], "contact_id": CONTACT,
                "payment_method": {"token": "tok_visa_approved"}}
        return await self._pay(body, False)

    async def _payment_with_unapplied(self) -> dict[str, Any] | None:
        found = [p for p in await self.payments(status="succeeded") if Decimal(p["unapplied_amount"]) > 0]
        return self.rng.choice(found) if found else None

    async def op_apply(self) -> str:
        payment = await self._payment_with_unapplied()
        if payment is None:
            return "nothing_unapplied"
        unapplied = Decimal(payment["unapplied_amount"])
        targets = [i for i in await self.payable_invoices() if Decimal(i["balance"]) <= unapplied]
        if not targets:
            return "no_target"
        body = {"invoice_id": self.rng.choice(targets)["invoice_id"], "keep_remainder": self.rng.random() < 0.3}
        status, answer = await self.system.api_retrying("payments", "POST", f"/v1/payments/{payment['payment_id']}/apply",
                                                        body, MANAGER, timeout=30)
        return str(status)

    async def op_refund(self) -> str:
        payment = await self._payment_with_unapplied()
        if payment is None:
            return "nothing_unapplied"
        status, _ = await self.system.api_retrying("payments", "POST", f"/v1/payments/{payment['payment_id']}/refund",
                                                   {}, MANAGER, timeout=30)
        return str(status)

    async def op_cancel(self) -> str:
        found = await self.payments(status="succeeded")
        if not found:
            return "nothing_to_cancel"
        payment = self.rng.choice(found)
        status, _ = await self.system.api_retrying("payments", "POST", f"/v1/payments/{payment['payment_id']}/cancel",
                                                   {}, MANAGER, timeout=30)
        return str(status)

    # -- invoices ----------------------------------------------------------------------------
    async def _sync_run(self) -> str:
        status, _ = await self.system.api_retrying("sync", "POST", "/v1/sync/runs", {}, ADMIN, timeout=30)
        return str(status)

    async def op_new_invoice(self) -> str:
        await self._seed_psa_invoice()
        return await self._sync_run()

    async def op_void(self) -> str:
        candidates = [i for i in self.record.psa_invoices if i not in self.record.voided]
        if not candidates:
            return "nothing_to_void"
        external_id = self.rng.choice(candidates)
        self.record.voided.add(external_id)
        await self.system.sim("psa", "POST", f"/_sim/invoices/{external_id}/void")
        return await self._sync_run()

    async def op_upstream_invoice(self) -> str:
        external_id = str(next(self._ids))
        total = self.rng.choice(["75.00", "150.00", "640.00"])
        event = InvoiceUpserted.new(producer="chaos", organization_id=ORGANIZATION, data=InvoiceUpsertedData(
            source="autotask", external_id=external_id, version=1,
            organization=UpstreamOrganization(external_id=str(COMPANY), name="Acme Dental"),
            invoice_number=f"U{external_id}", issued_on=date(2026, 11, 1), due_on=date(2026, 12, 1),
            currency="USD", total=money(total)))  # type: ignore[arg-type]
        assert self.producer is not None
        await asyncio.wait_for(self.producer.send_and_wait(self.system.names(UPSTREAM_INVOICES), event.to_json(),
                                                           key=ORGANIZATION.encode()), timeout=60)
        self.record.upstream_invoices.append(f"autotask:{external_id}")
        return "sent"

    # -- the gateway's side --------------------------------------------------------------------
    async def op_settle(self) -> str:
        await self.system.point_webhooks()
        answer = await self.system.sim("gateway", "POST", "/_sim/settle", {})
        return f"settled:{min(answer['settled'], 5)}"

    async def op_chargeback(self) -> str:
        settled = [t for t in self.system.gateway.transactions.values()
                   if t.type == "sale" and t.condition == "complete" and t.transaction_id not in self.record.charged_back]
        if not settled:
            return "nothing_settled"
        txn = self.rng.choice(settled)
        status, payment = await self.system.api_retrying("payments", "GET", f"/v1/payments/{txn.order_id}",
                                                         token=MANAGER, timeout=20)
        if status != 200 or payment["status"] != "succeeded":
            return "not_live"  # a cancelled (refunded) sale is not charged back
        self.record.charged_back.add(txn.transaction_id)
        await self.system.point_webhooks()
        await self.system.sim("gateway", "POST", f"/_sim/transactions/{txn.transaction_id}/chargeback", {})
        return "sent"

    async def op_redeliver(self) -> str:
        hooks = list(self.system.gateway.webhooks)
        if not hooks:
            return "no_webhooks"
        await self.system.point_webhooks()
        answer = await self.system.sim("gateway", "POST", f"/_sim/webhooks/{self.rng.choice(hooks).event_id}/redeliver")
        return str(answer.get("status"))

    # -- a person at the portal ----------------------------------------------------------------
    async def op_portal(self) -> str:
        base = self.system.url("portal")
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=20)) as http:
            async with http.get(f"{base}/login") as page:
                found = re.search(r'name="csrf_token" value="([^"]*)"', await page.text())
            form = {"email": "pat@acme.example", "password": "demo-password",
                    "csrf_token": found.group(1) if found else "", "next": ""}
            async with http.post(f"{base}/login", data=form, allow_redirects=False) as signed_in:
                if signed_in.status != 303:
                    return f"signin:{signed_in.status}"
            async with http.get(f"{base}/portal/invoices") as page:
                return f"page:{page.status}"


async def repair_webhooks(system: System) -> int:
    """The real gateway retries a webhook until it is accepted; the simulator sends once. Redeliver every
    event whose latest delivery was not accepted (a replica was down, the database bouncing)."""
    latest: dict[str, Any] = {}
    for hook in system.gateway.webhooks:
        latest[hook.event_id] = hook
    failed = [h for h in latest.values() if h.status != 200]
    for hook in failed:
        await system.point_webhooks()
        await system.sim("gateway", "POST", f"/_sim/webhooks/{hook.event_id}/redeliver")
    return len(failed)
