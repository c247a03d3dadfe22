"""Upstream invoices without a number (issue 12, item 4): an open invoice arriving on
`upstream.invoices.v1` with no invoice_number is created in accounting (once, found by its marker) and
published with accounting's DocNumber, never unnumbered while accounting numbers; the source's later
versions keep that number and are still taken. Sync runs in-process on the real broker and database,
against the simulators."""
from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from billing_shared.events.catalog import BILLING_INVOICES, BILLING_SYNC, UPSTREAM_INVOICES
from billing_shared.events.upstream import InvoiceUpserted, UpstreamInvoiceVoided
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_simulators.accounting.state import SIM_STATE
from tests.e2e.sync_support import seed_customer, seed_invoice, simulators, sync_in_process, sync_settings
from tests.support import eventually, read_topic

pytestmark = pytest.mark.timeout(120)

LINES = [{"description": "Backup seats", "quantity": "2", "unit_price": "125.00", "amount": "250.00"}]


def upserted(external_id: str, version: int, number: str | None = None, **changes: Any) -> InvoiceUpserted:
    data = {"source": "cloudbill", "external_id": external_id, "version": version,
            "organization": {"external_id": "42", "name": "Bravo Labs"}, "invoice_number": number,
            "issued_on": "2026-11-05", "due_on": "2026-12-05", "currency": "USD", "total": "250.00",
            "paid_on": None, "pdf_url": None, "lines": LINES, **changes}
    return InvoiceUpserted.new(producer="cloudbill", organization_id="cloudbill:42", data=data)


@pytest.fixture
async def world(infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all())
    producer = make_producer(infra.kafka_bootstrap)
    await producer.start()

    async def send(event: Any) -> None:
        await producer.send_and_wait(names(UPSTREAM_INVOICES), event.to_json(), key=b"cloudbill:42")
    try:
        async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
            await seed_customer(sims)
            await seed_invoice(sims, 501, "500.00")
            await api.setup(sims)
            assert (await api.run_to_end())["status"] == "completed"
            yield sims, send, names
    finally:
        await producer.stop()


async def ours(sims, invoice_id: str) -> list[dict]:
    return [b for b in await sims.acct_call("GET", "/_sim/invoices")
            if b.get("PrivateNote", "").endswith(f"billing-link invoice {invoice_id}")]


async def snapshots(infra, names, count: int, invoice_id: str) -> list[dict]:
    records = await read_topic(infra.kafka_bootstrap, names(BILLING_INVOICES), count=count, settle=1.0)
    return [e["data"] for e in map(lambda r: json.loads(r.value), records) if e["data"]["invoice_id"] == invoice_id]


async def test_an_upstream_invoice_without_a_number_is_numbered_through_accounting(world, infra, database_url):
    sims, send, names = world
    await send(upserted("U-77", 1))

    async def created():
        found = await ours(sims, "cloudbill:U-77")
        return found if found else None
    [booked] = await eventually(created, timeout=30)
    customer = await sims.acct_call("GET", f"/_sim/customers/{booked['CustomerRef']['value']}")
    assert customer["DisplayName"] == "Bravo Labs"
    assert (booked["TotalAmt"], booked["TxnDate"], booked["DueDate"]) == (250.0, "2026-11-05", "2026-12-05")
    [line] = [x for x in booked["Line"] if x["DetailType"] == "SalesItemLineDetail"]
    assert (line["Description"], line["SalesItemLineDetail"]["Qty"], line["Amount"]) == ("Backup seats", 2, 250.0)

    # PSA invoice 501 was published by the run (1 snapshot); the upstream one once, numbered (never without)
    [published] = await snapshots(infra, names, 2, "cloudbill:U-77")
    assert (published["invoice_number"], published["status"]) == (booked["DocNumber"], "open")
    assert published["source_version"] == 2  # the source's 1, then sync's number

    # The source's next version knows nothing of the number: it keeps it, and is taken (published after 2)
    await send(upserted("U-77", 2, due_on="2026-12-20"))
    await send(upserted("U-77", 1))  # a replayed older version changes nothing
    later = await snapshots(infra, names, 3, "cloudbill:U-77")
    assert [(s["source_version"], s["invoice_number"], s["due_on"]) for s in later] == [
        (2, booked["DocNumber"], "2026-12-05"), (3, booked["DocNumber"], "2026-12-20")]
    assert len(await ours(sims, "cloudbill:U-77")) == 1  # created once

    await send(UpstreamInvoiceVoided.new(producer="cloudbill", organization_id="cloudbill:42",
                                         data={"source": "cloudbill", "external_id": "U-77", "version": 3}))
    voided = await snapshots(infra, names, 4, "cloudbill:U-77")
    assert (voided[-1]["status"], voided[-1]["source_version"]) == ("voided", 4)


async def test_an_upstream_invoice_with_its_own_number_is_published_as_it_came(world, infra, database_url):
    sims, send, names = world
    await send(upserted("U-78", 1, number="CB-1042"))
    [published] = await snapshots(infra, names, 2, "cloudbill:U-78")
    assert (published["invoice_number"], published["source_version"]) == ("CB-1042", 1)
    assert await ours(sims, "cloudbill:U-78") == []


async def test_a_crash_after_accounting_created_the_upstream_invoice_makes_no_duplicate(world, infra, database_url):
    sims, send, names = world
    state = sims.accounting.app[SIM_STATE]
    # What a crashed attempt left: the intent is stored, the invoice exists in accounting, nothing is linked
    customer = state.books.create("Customer", {"DisplayName": "Bravo Labs"})
    booked = state.books.create("Invoice", {
        "CustomerRef": {"value": customer["Id"]}, "PrivateNote": "billing-link invoice cloudbill:U-79",
        "Line": [{"DetailType": "SalesItemLineDetail", "Amount": "250.00", "SalesItemLineDetail": {}}]})
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("INSERT INTO sync.numbering_intents (invoice_id, customer_id, marker, realm_id) "
                           "VALUES ('cloudbill:U-79', $1, 'billing-link invoice cloudbill:U-79', $2)",
                           customer["Id"], state.config.realm_id)
    finally:
        await conn.close()

    await send(upserted("U-79", 1))

    [published] = await snapshots(infra, names, 2, "cloudbill:U-79")
    assert published["invoice_number"] == booked["DocNumber"]
    assert [b["Id"] for b in await ours(sims, "cloudbill:U-79")] == [booked["Id"]]


async def test_an_upstream_invoice_accounting_refuses_raises_its_reason_and_is_tried_again(
        world, infra, database_url):
    sims, send, names = world
    await sims.acct_call("POST", "/_sim/faults", {"path_contains": "/invoice", "method": "POST", "status": 400,
                                                  "code": "6000", "message": "A business validation error",
                                                  "count": 1})
    await send(upserted("U-80", 1))

    events = [json.loads(r.value) for r in await read_topic(infra.kafka_bootstrap, names(BILLING_SYNC), count=4,
                                                             timeout=30, settle=0.5)]
    [raised] = [e["data"] for e in events if e["event_type"] == "sync.record_failed"]
    assert (raised["integration"], raised["entity"], raised["record_id"]) == ("quickbooks", "upstream_numbering",
                                                                             "cloudbill:U-80")
    assert "6000" in raised["reason"]
    assert await ours(sims, "cloudbill:U-80") == []
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT reason FROM sync.upstream_numbering_failures") == raised["reason"]
        await conn.execute("UPDATE sync.upstream_numbering_failures SET next_attempt_at = now()")  # due now
    finally:
        await conn.close()

    [published] = await snapshots(infra, names, 2, "cloudbill:U-80")  # the next look numbers it
    assert published["invoice_number"] == (await ours(sims, "cloudbill:U-80"))[0]["DocNumber"]
