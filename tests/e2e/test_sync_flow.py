"""Sync end to end, as separate processes on the real broker and database, with the PSA and accounting
simulators: PSA invoices numbered through accounting become payable in payments; a payment is written
back to accounting and the PSA, and reversed when cancelled; wrong credentials are reported; a run
interrupted by a killed process resumes and duplicates nothing, within the PSA request budget."""
from __future__ import annotations

import asyncio
import json
from collections import Counter

import aiohttp
import asyncpg
import pytest

from billing_shared.events.catalog import BILLING_INVOICES, BILLING_PAYMENTS, BILLING_SYNC
from billing_shared.events.payments import PaymentCancelled, PaymentSnapshot, PaymentSucceeded
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_simulators.psa import PsaSimConfig
from tests.e2e.conftest import ADMIN, MANAGER, auth
from tests.e2e.sync_support import SyncApi, seed_customer, seed_invoice, simulators
from tests.support import eventually, read_topic

pytestmark = pytest.mark.timeout(180)


def payment(status: str, applications: dict[str, str], sale: str = "500.00") -> PaymentSnapshot:
    applied = sum(float(a) for a in applications.values())
    return PaymentSnapshot.model_validate({
        "payment_id": "8d1e7c1e-0000-4000-8000-000000000001", "transaction_id": "7000001",
        "order_id": "8d1e7c1e-0000-4000-8000-000000000001", "organization_id": "autotask:678",
        "contact_id": "autotask:901", "environment": "autotask", "method": {"type": "credit_card"},
        "currency": "USD", "status": status, "sale_amount": sale if status == "succeeded" else "0.00",
        "applied_amount": f"{applied:.2f}", "unapplied_amount": "0.00", "refund_amount": "0.00",
        "original_amount": sale, "applications": [{"invoice_id": i, "amount": a} for i, a in applications.items()],
        "transactions": [{"type": "sale", "amount": sale, "at": "2026-11-27T10:00:00Z", "transaction_id": "7000001"}],
    })


async def payable(http: aiohttp.ClientSession, payments_url: str) -> dict[str, dict]:
    async with http.get(f"{payments_url}/v1/invoices", params={"organization_id": "autotask:678"},
                        headers=auth(MANAGER)) as response:
        assert response.status == 200, await response.text()
        return {i["invoice_id"]: i for i in (await response.json())["items"]}


async def test_psa_invoices_become_payable_and_a_payment_flows_back_to_accounting_and_the_psa(infra, system,
                                                                                             topic_prefix):
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all())
    await asyncio.gather(system.start("sync"), system.start("payments"))
    producer = make_producer(infra.kafka_bootstrap)
    await producer.start()
    async with simulators() as sims:
        api = SyncApi(system.urls["sync"], sims.http, ADMIN)
        try:
            await seed_customer(sims)
            for external_id, total in ((501, "500.00"), (502, "300.00"), (503, "1000.00")):
                await seed_invoice(sims, external_id, total)
            await api.call("PUT", "/v1/integrations/quickbooks", sims.quickbooks_body(), token=ADMIN, expect=200)
            await api.call("PUT", "/v1/integrations/autotask", sims.autotask_body(), token=ADMIN, expect=200)
            run = await api.run_to_end(timeout=60)
            assert run["status"] == "completed", run

            books = {b["PrivateNote"].rsplit(" ", 1)[1]: b for b in await sims.acct_call("GET", "/_sim/invoices")}
            assert sorted(books) == ["autotask:501", "autotask:502", "autotask:503"]
            for invoice_id, book in books.items():
                psa_invoice = await sims.psa_call("GET", f"/_sim/invoices/{invoice_id.split(':')[1]}")
                assert psa_invoice["invoiceNumber"] == book["DocNumber"]

            async def all_payable():
                found = await payable(sims.http, system.urls["payments"])
                return found if len(found) == 3 and all(i["payable"] for i in found.values()) else None
            invoices = await eventually(all_payable, timeout=30)
            assert invoices["autotask:501"]["invoice_number"] == books["autotask:501"]["DocNumber"]
            assert (invoices["autotask:503"]["balance"], invoices["autotask:503"]["status"]) == ("1000.00", "open")

            # payments reports a payment of invoice 501 (its own API is another issue's work)
            succeeded = PaymentSucceeded.new(producer="payments", organization_id="autotask:678",
                                             data=payment("succeeded", {"autotask:501": "500.00"}))
            await producer.send_and_wait(names(BILLING_PAYMENTS), succeeded.to_json(), key=b"autotask:678")

            async def applied():
                recorded = await sims.acct_call("GET", "/_sim/payments")
                psa_invoice = await sims.psa_call("GET", "/_sim/invoices/501")
                return recorded if recorded and psa_invoice["paidDate"] else None
            [recorded] = await eventually(applied, timeout=30)
            assert (recorded["TotalAmt"], recorded["PaymentRefNum"]) == (500.0, "7000001")
            assert recorded["Line"][0]["LinkedTxn"][0]["TxnId"] == books["autotask:501"]["Id"]
            assert (await sims.acct_call("GET", f"/_sim/invoices/{books['autotask:501']['Id']}"))["Balance"] == 0

            cancelled = PaymentCancelled.new(producer="payments", organization_id="autotask:678",
                                             data=payment("cancelled", {}))
            await producer.send_and_wait(names(BILLING_PAYMENTS), cancelled.to_json(), key=b"autotask:678")

            async def reversed_():
                [recorded] = await sims.acct_call("GET", "/_sim/payments")
                psa_invoice = await sims.psa_call("GET", "/_sim/invoices/501")
                return recorded["TotalAmt"] == 0 and psa_invoice["paidDate"] is None
            await eventually(reversed_, timeout=30)
            assert (await sims.acct_call("GET", f"/_sim/invoices/{books['autotask:501']['Id']}"))["Balance"] == 500.0
            # the cancel is not overridden: sync never reported our own payment as `paid`
            statuses = [json.loads(r.value)["data"]["status"] for r in
                        await read_topic(infra.kafka_bootstrap, names(BILLING_INVOICES), count=3, settle=1.0)]
            assert statuses == ["open", "open", "open"]

            # voided in the PSA -> invoice.voided -> not payable any more
            await sims.psa_call("POST", "/_sim/invoices/502/void")
            assert (await api.run_to_end(timeout=60))["status"] == "completed"

            async def voided():
                found = await payable(sims.http, system.urls["payments"])
                return found["autotask:502"]["status"] == "voided" and not found["autotask:502"]["payable"]
            await eventually(voided, timeout=30)
        finally:
            await producer.stop()


async def test_wrong_credentials_answer_false_and_raise_connection_failed(infra, system, topic_prefix):
    names = TopicNames(topic_prefix)
    await system.start("sync")
    async with simulators() as sims:
        api = SyncApi(system.urls["sync"], sims.http, ADMIN)
        await api.call("PUT", "/v1/integrations/autotask", sims.autotask_body(secret="not-the-secret"),
                       token=ADMIN, expect=200)
        result = await api.call("POST", "/v1/integrations/autotask/test", token=ADMIN, expect=200)
        assert result["ok"] is False and result["reason"]
        events = [json.loads(r.value) for r in await read_topic(infra.kafka_bootstrap, names(BILLING_SYNC), count=1)]
        failed = [e for e in events if e["event_type"] == "integration.connection_failed"]
        assert failed[0]["data"]["integration"] == "autotask"
        assert "not-the-secret" not in json.dumps(events)
        assert "not-the-secret" not in system.processes["sync"].log_file.read_text()


async def test_a_run_interrupted_by_a_killed_process_resumes_and_duplicates_nothing(infra, system, topic_prefix,
                                                                                    database_url):
    names = TopicNames(topic_prefix)
    invoices = 3_000
    async with simulators(PsaSimConfig(latency_ms=250)) as sims:
        await seed_customer(sims)
        await sims.psa_call("POST", "/_sim/bulk", {"invoices": [
            {"id": 800_000 + n, "companyID": 678, "invoiceNumber": f"R{n}", "invoiceTotal": 25.0,
             "invoiceDateTime": "2026-06-01T00:00:00"} for n in range(invoices)]})
        sync = await system.start("sync")
        api = SyncApi(system.urls["sync"], sims.http, ADMIN)
        await api.call("PUT", "/v1/integrations/autotask", sims.autotask_body(), token=ADMIN, expect=200)
        started = await api.call("POST", "/v1/sync/runs", {}, token=ADMIN, expect=202)

        async def some_pages_in():
            run = await api.call("GET", f"/v1/sync/runs/{started['run_id']}", token=ADMIN, expect=200)
            return run["entities"].get("invoices", {}).get("fetched", 0) >= 1000
        await eventually(some_pages_in, timeout=60)
        sync.kill()
        conn = await asyncpg.connect(database_url)
        try:
            assert await conn.fetchval("SELECT status FROM sync.sync_runs") == "running"
            before_restart = await conn.fetchval("SELECT count(*) FROM sync.invoices")
        finally:
            await conn.close()
        assert 1000 <= before_restart < invoices

        await system.start("sync")  # same database: the orphaned run is picked up and resumed
        run = await api.wait_run(started["run_id"], timeout=90)
        assert run["status"] == "completed"
        assert run["entities"]["invoices"] == {"fetched": invoices, "total": invoices, "done": True}

        snapshots = await read_topic(infra.kafka_bootstrap, names(BILLING_INVOICES), count=invoices, settle=2.0)
        per_invoice = Counter(json.loads(r.value)["data"]["invoice_id"] for r in snapshots)
        assert len(per_invoice) == invoices and set(per_invoice.values()) == {1}

        calls = await sims.psa_call("GET", "/_sim/requests")
        pages = invoices // 500
        # every page read once, except at most the one in flight when the process died; one count
        assert pages <= calls["by_entity"]["Invoices"]["POST query"] <= pages + 1
        assert max(calls["max_concurrent"].values()) <= 3 and calls["over_thread_limit"] == 0
