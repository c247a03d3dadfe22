"""Helpers of the notifications tests: source events as the other services publish them, looking
at what reached the SMTP sink and the PSA simulator, and `stack`: the service process wired to an
in-process sink and PSA simulator, with fast retries."""
from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from billing_shared.events import Event
from billing_shared.events.catalog import BILLING_NOTIFICATIONS
from billing_shared.events.directory import ContactData, ContactSynced, OrganizationData, OrganizationSynced
from billing_shared.events.invoices import InvoiceSnapshot, InvoiceSynced
from billing_shared.events.payments import (
    Application, PaymentMethodSummary, PaymentSnapshot, PaymentSucceeded, TransactionRow,
)
from billing_shared.events.sync import SyncCompleted, SyncCompletedData, SyncStarted, SyncStartedData
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_shared.money import money
from billing_simulators.psa import RunningPsaSimulator, running_psa_simulator
from billing_simulators.smtp_sink import SinkHandle, start_sink
from tests.e2e.conftest import ADMIN, System, auth
from tests.support import read_topic

ORG = "autotask:678"
AT = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def payment(status: str = "succeeded", *, amount: str = "500.00", invoice_id: str = "autotask:12345",
            payment_id: str | None = None, failure_reason: str | None = None, **changes: Any) -> PaymentSnapshot:
    paid = status == "succeeded"
    values: dict[str, Any] = dict(
        payment_id=payment_id or str(uuid.uuid4()), transaction_id="10000001" if paid else None,
        order_id="order-1", organization_id=ORG, contact_id="autotask:901", environment="client_portal",
        method=PaymentMethodSummary(type="credit_card", brand="visa", last4="1111"), currency="USD",
        status=status, failure_reason=failure_reason,
        sale_amount=money(amount if paid else "0.00"), applied_amount=money(amount if paid else "0.00"),
        unapplied_amount=money("0.00"), refund_amount=money("0.00"), original_amount=money(amount),
        applications=[Application(invoice_id=invoice_id, amount=money(amount))] if paid else [],
        transactions=[TransactionRow(type="sale", amount=money(amount), at=AT, transaction_id="10000001")] if paid
        else [],
    )
    values.update(changes)
    return PaymentSnapshot(**values)


def refunded_payment(amount: str = "500.00") -> PaymentSnapshot:
    """`amount` of a payment left unapplied by a void, refunded in full (DOMAIN.md 2)."""
    return payment(applied_amount=money("0.00"), refund_amount=money(amount), applications=[], transactions=[
        TransactionRow(type="sale", amount=money(amount), at=AT, transaction_id="10000001"),
        TransactionRow(type="refund", amount=money(amount), at=AT, transaction_id="10000002")])


def payment_succeeded(**kw: Any) -> PaymentSucceeded:
    return PaymentSucceeded.new(producer="payments", organization_id=ORG, data=payment(**kw))


def invoice(number: str | None = "1042", *, invoice_id: str = "autotask:12345", status: str = "open",
            version: int = 1) -> InvoiceSnapshot:
    return InvoiceSnapshot(invoice_id=invoice_id, organization_id=ORG, invoice_number=number, status=status,
                           currency="USD", total=money("500.00"), issued_on=AT.date(), due_on=None, paid_on=None,
                           pdf_url=None, source_version=version)


def invoice_synced(**kw: Any) -> InvoiceSynced:
    return InvoiceSynced.new(producer="sync", organization_id=ORG, data=invoice(**kw))


def organization_synced(name: str = "Acme Dental",
                        default_contact_id: str | None = "autotask:901") -> OrganizationSynced:
    return OrganizationSynced.new(producer="sync", organization_id=ORG, data=OrganizationData(
        organization_id=ORG, name=name, active=True, default_contact_id=default_contact_id))


def contact_synced(email: str = "ap@acme.example", contact_id: str = "autotask:901") -> ContactSynced:
    return ContactSynced.new(producer="sync", organization_id=ORG, data=ContactData(
        contact_id=contact_id, organization_id=ORG, name="Dana Accounts", email=email, active=True, primary=True,
        billing=True))


def sync_started(interval_minutes: int = 1, *, at: datetime, organization_id: str = "system") -> SyncStarted:
    return SyncStarted.new(producer="sync", organization_id=organization_id, occurred_at=at, data=SyncStartedData(
        integration="autotask", run_id=str(uuid.uuid4()), mode="incremental", interval_minutes=interval_minutes))


def sync_completed(interval_minutes: int = 1, *, at: datetime, organization_id: str = "system") -> SyncCompleted:
    return SyncCompleted.new(producer="sync", organization_id=organization_id, occurred_at=at,
                             data=SyncCompletedData(integration="autotask", run_id=str(uuid.uuid4()),
                                                    completed_at=at, interval_minutes=interval_minutes))


async def sim_json(http: aiohttp.ClientSession, method: str, url: str, body: Any = None) -> Any:
    async with http.request(method, url, json=body) as response:
        assert response.status < 300, f"{method} {url}: {response.status} {await response.text()}"
        return await response.json()


async def seed_psa_company(http: aiohttp.ClientSession, psa_url: str, company_id: int = 678,
                           name: str = "Acme Dental") -> None:
    await sim_json(http, "POST", f"{psa_url}/_sim/companies", {"id": company_id, "companyName": name})


async def psa_tickets(http: aiohttp.ClientSession, psa_url: str) -> list[dict[str, Any]]:
    return await sim_json(http, "GET", f"{psa_url}/_sim/tickets")


async def psa_fault(http: aiohttp.ClientSession, psa_url: str, *, count: int, status: int = 500,
                    method: str | None = None) -> None:
    await sim_json(http, "POST", f"{psa_url}/_sim/faults",
                   {"entity": "Tickets", "method": method, "status": status, "count": count,
                    "message": "Simulated outage"})


async def sink_messages(http: aiohttp.ClientSession, sink_http_url: str) -> list[dict[str, Any]]:
    return await sim_json(http, "GET", f"{sink_http_url}/_sim/messages")


FAST_ENV = {
    "DELIVERY_POLL_SECONDS": "0.1", "RETRY_BASE_SECONDS": "0.2", "RETRY_MAX_SECONDS": "0.5",
    "DELIVERY_MAX_ATTEMPTS": "4", "PSA_RETRY_ATTEMPTS": "1", "PSA_RETRY_BASE_SECONDS": "0.01",
    "PSA_BACKOFF_MAX_SECONDS": "0.01", "FRESHNESS_CHECK_SECONDS": "0.5",
}


@dataclass
class Stack:
    system: System
    sink: SinkHandle
    psa: RunningPsaSimulator
    http: aiohttp.ClientSession
    names: TopicNames
    bootstrap: str
    producer: Any

    @property
    def url(self) -> str:
        return self.system.urls["notifications"]

    async def start(self, **env: str) -> None:
        self.system.env.update(env)
        await self.system.start("notifications")

    async def publish(self, topic: str, *events: Event, times: int = 1) -> None:
        for event in events:
            for _ in range(times):
                await self.producer.send(self.names(topic), event.to_json(), key=event.organization_id.encode())
        await self.producer.flush()

    async def api(self, method: str, path: str, body: Any = None, token: str = ADMIN,
                  status: int = 200) -> Any:
        async with self.http.request(method, f"{self.url}{path}", json=body, headers=auth(token)) as response:
            assert response.status == status, f"{method} {path}: {response.status} {await response.text()}"
            return None if response.status == 204 else await response.json()

    async def deliveries(self, **query: str) -> list[dict]:
        params = "&".join(f"{k}={v}" for k, v in query.items())
        return (await self.api("GET", f"/v1/deliveries?{params}"))["items"]

    async def notifications(self, count: int, settle: float = 0.0) -> list[dict]:
        records = await read_topic(self.bootstrap, self.names(BILLING_NOTIFICATIONS), count=count, timeout=30,
                                   settle=settle)
        return [json.loads(r.value) for r in records]


@pytest.fixture
async def stack(infra, system, topic_prefix) -> AsyncIterator[Stack]:
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all())
    sink = await start_sink("127.0.0.1", smtp_port=0, http_port=0)
    producer = make_producer(infra.kafka_bootstrap)
    await producer.start()
    try:
        async with running_psa_simulator() as psa, aiohttp.ClientSession() as http:
            system.env.update(FAST_ENV, SMTP_HOST="127.0.0.1", SMTP_PORT=str(sink.smtp_port),
                              PSA_BASE_URL=psa.zone_lookup_base, PSA_USERNAME="api@msp.example",
                              PSA_SECRET="sim-secret", PSA_INTEGRATION_CODE="SIMINTEGRATIONCODE000000000000")
            await seed_psa_company(http, psa.url)
            yield Stack(system, sink, psa, http, names, infra.kafka_bootstrap, producer)
    finally:
        system.stop_all()
        await producer.stop()
        await sink.stop()
