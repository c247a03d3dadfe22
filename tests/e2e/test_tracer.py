"""The tracer flow through three real service processes: upstream invoice -> sync -> payments ->
notifications, over a real broker and database."""
from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import aiohttp
import pytest

from billing_shared.events.catalog import BILLING_NOTIFICATIONS, UPSTREAM_INVOICES
from billing_shared.events.upstream import InvoiceLine, InvoiceUpserted, InvoiceUpsertedData, UpstreamOrganization
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_shared.money import money
from tests.e2e.conftest import CLIENT, MANAGER, auth
from tests.support import eventually, read_topic

pytestmark = pytest.mark.timeout(150)


ISSUED_ON = date.today() - timedelta(days=3)  # recent: older invoices are not announced

def upstream_invoice(external_id: str, total: str, version: int = 1, number: str | None = "1042") -> InvoiceUpserted:
    return InvoiceUpserted.new(
        producer="psa-relay", organization_id="autotask:678",
        data=InvoiceUpsertedData(
            source="autotask", external_id=external_id, version=version,
            organization=UpstreamOrganization(external_id="678", name="Acme Dental"),
            invoice_number=number, issued_on=ISSUED_ON, due_on=ISSUED_ON + timedelta(days=30), currency="USD",
            total=money(total),
            lines=[InvoiceLine(description="Managed services", quantity="1", unit_price=money(total),
                               amount=money(total))],
        ),
    )


async def get_invoices(http: aiohttp.ClientSession, url: str, token: str, **query: str) -> dict:
    async with http.get(f"{url}/v1/invoices", params=query, headers=auth(token)) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_an_upstream_invoice_reaches_payments_and_notifications(infra, system, topic_prefix):
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all())
    await asyncio.gather(*(system.start(name) for name in ("sync", "payments", "notifications")))
    producer = make_producer(infra.kafka_bootstrap)
    await producer.start()
    async with aiohttp.ClientSession() as http:
        try:
            payments = system.urls["payments"]
            malformed = b'{"event_type": "invoice.upserted", "data": {"total": 12.5}}'
            await producer.send_and_wait(names(UPSTREAM_INVOICES), malformed, key=b"autotask:678")
            first = upstream_invoice("12345", "500.00")
            stale = upstream_invoice("12345", "999.00", version=0)
            await producer.send_and_wait(names(UPSTREAM_INVOICES), first.to_json(), key=b"autotask:678")
            await producer.send_and_wait(names(UPSTREAM_INVOICES), stale.to_json(), key=b"autotask:678")

            async def visible():
                return (await get_invoices(http, payments, MANAGER, organization_id="autotask:678"))["items"]

            items = await eventually(visible, timeout=30)
            assert len(items) == 1
            invoice = items[0]
            assert invoice["invoice_id"] == "autotask:12345"
            assert invoice["organization_id"] == "autotask:678"
            assert (invoice["total"], invoice["balance"], invoice["payable"]) == ("500.00", "500.00", True)
            assert (invoice["status"], invoice["invoice_number"], invoice["source_version"]) == ("open", "1042", 1)

            # the client of that organization sees it; a filter on another organization is not found
            assert len((await get_invoices(http, payments, CLIENT))["items"]) == 1
            async with http.get(f"{payments}/v1/invoices", params={"organization_id": "autotask:999"},
                                headers=auth(CLIENT)) as response:
                assert response.status == 404
                assert (await response.json())["error"]["code"] == "not_found"

            created = await read_topic(infra.kafka_bootstrap, names(BILLING_NOTIFICATIONS), count=1, timeout=30)
            notification = json.loads(created[0].value)
            assert notification["event_type"] == "notification.created"
            assert notification["data"]["type"] == "invoice.available"
            assert notification["organization_id"] == "autotask:678"

            dead = await read_topic(infra.kafka_bootstrap, names.dlq(UPSTREAM_INVOICES), count=1)
            assert dead[0].value == malformed

            # a newer version updates the projection; the malformed message did not block the partition
            await producer.send_and_wait(names(UPSTREAM_INVOICES), upstream_invoice("12345", "450.00", 2).to_json(),
                                         key=b"autotask:678")

            async def updated():
                items = await visible()
                return items and items[0]["source_version"] == 2 and items[0]

            invoice = await eventually(updated, timeout=30)
            assert (invoice["total"], invoice["balance"]) == ("450.00", "450.00")

            async with http.get(f"{system.urls['sync']}/metrics") as response:
                metrics = await response.text()
            assert 'billing_consumer_events_total{consumer="sync-upstream-invoices",outcome="dead_lettered",' \
                   'topic="upstream.invoices.v1"} 1.0' in metrics
            assert 'outcome="handled",topic="upstream.invoices.v1"} 3.0' in metrics
        finally:
            await producer.stop()
