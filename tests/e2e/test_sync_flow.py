"""Sync end to end, as separate processes on the real broker and database, with the PSA, accounting and
gateway simulators: PSA invoices numbered through accounting become payable in payments; a payment made
through payments is written back to accounting and the PSA, reversed when cancelled, unapplied when
its invoice is voided; wrong credentials are reported; a run interrupted by a killed process resumes
and duplicates nothing, within the PSA request budget."""
from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from billing_shared.events.catalog import BILLING_INVOICES, BILLING_SYNC
from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_simulators.gateway import GatewaySimConfig
from billing_simulators.gateway import create_app as gateway_app
from billing_simulators.psa import PsaSimConfig
from devstack.ports import free_port
from tests.e2e.conftest import ADMIN, MANAGER, auth
from tests.e2e.sync_support import SyncApi, seed_customer, seed_invoice, simulators
from tests.support import eventually, read_topic

pytestmark = pytest.mark.timeout(180)


ACTIVE_PAYMENTS = {
    "active": True, "currency": "USD", "accept_payments_in": ["autotask", "client_portal"],
    "payment_types": {"autotask": ["credit_card"], "client_portal": ["credit_card"]},
    "public_key": "sim-public-key", "private_key": "sim-private-key",
}
SIGNING_KEY = "sync-e2e-signing-key"


@asynccontextmanager
async def gateway(system) -> AsyncIterator[str]:
    """The gateway simulator in this process, the payments service pointed at it."""
    payments_port = free_port()
    system.urls["payments"] = f"http://127.0.0.1:{payments_port}"
    app = gateway_app(GatewaySimConfig(webhook_url=f"{system.urls['payments']}/v1/webhooks/gateway",
                                       webhook_signing_key=SIGNING_KEY))
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    system.env.update(GATEWAY_BASE_URL=f"http://127.0.0.1:{port}", GATEWAY_WEBHOOK_SIGNING_KEY=SIGNING_KEY)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def payments_call(http: aiohttp.ClientSession, url: str, method: str, path: str, body: Any = None,
                        token: str = MANAGER, expect: int = 200) -> Any:
    headers = {**auth(token), "Idempotency-Key": str(uuid.uuid4())}
    async with http.request(method, f"{url}{path}", json=body, headers=headers) as response:
        payload = await response.json()
        assert response.status == expect, (response.status, payload)
        return payload


async def payable(http: aiohttp.ClientSession, payments_url: str) -> dict[str, dict]:
    page = await payments_call(http, payments_url, "GET", "/v1/invoices?organization_id=autotask:678")
    return {i["invoice_id"]: i for i in page["items"]}


async def test_psa_invoices_become_payable_and_a_payment_flows_back_to_accounting_and_the_psa(infra, system,
                                                                                             topic_prefix,
                                                                                             database_url):
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all())
    async with simulators() as sims, gateway(system):
        await asyncio.gather(system.start("sync"), system.start("payments"))
        payments = system.urls["payments"]
        api = SyncApi(system.urls["sync"], sims.http, ADMIN)
        await payments_call(sims.http, payments, "PUT", "/v1/settings/payment-processing", ACTIVE_PAYMENTS,
                            token=ADMIN)
        await seed_customer(sims)
        for external_id, total in ((501, "500.00"), (502, "300.00"), (503, "1000.00")):
            await seed_invoice(sims, external_id, total)
        await api.call("PUT", "/v1/integrations/quickbooks", sims.quickbooks_body(), expect=200)
        await api.call("PUT", "/v1/integrations/autotask", sims.autotask_body(), expect=200)
        run = await api.run_to_end(timeout=60)
        assert run["status"] == "completed", run

        # numbers in both simulators
        books = {b["PrivateNote"].rsplit(" ", 1)[1]: b for b in await sims.acct_call("GET", "/_sim/invoices")}
        assert sorted(books) == ["autotask:501", "autotask:502", "autotask:503"]
        for invoice_id, book in books.items():
            psa_invoice = await sims.psa_call("GET", f"/_sim/invoices/{invoice_id.split(':')[1]}")
            assert psa_invoice["invoiceNumber"] == book["DocNumber"]

        # payable in payments
        async def all_payable():
            found = await payable(sims.http, payments)
            return found if len(found) == 3 and all(i["payable"] for i in found.values()) else None
        invoices = await eventually(all_payable, timeout=30)
        assert invoices["autotask:501"]["invoice_number"] == books["autotask:501"]["DocNumber"]
        assert (invoices["autotask:503"]["balance"], invoices["autotask:503"]["status"]) == ("1000.00", "open")

        # the payer: the PSA contact, which payments learns from the directory sync publishes
        await eventually(lambda: _payments_knows(database_url, "autotask:901", "autotask:678"), timeout=30)

        # a payment: a sale at the gateway, then applied in accounting and dated in the PSA
        paid = await payments_call(sims.http, payments, "POST", "/v1/payments", {
            "invoice_id": "autotask:501", "contact_id": "autotask:901",
            "payment_method": {"token": "tok_visa_approved"}}, expect=201)
        assert paid["status"] == "succeeded", paid

        async def applied():
            recorded = await sims.acct_call("GET", "/_sim/payments")
            psa_invoice = await sims.psa_call("GET", "/_sim/invoices/501")
            return recorded if recorded and psa_invoice["paidDate"] else None
        [recorded] = await eventually(applied, timeout=30)
        assert (recorded["TotalAmt"], recorded["PaymentRefNum"]) == (500.0, paid["transaction_id"])
        assert recorded["Line"][0]["LinkedTxn"][0]["TxnId"] == books["autotask:501"]["Id"]
        assert (await sims.acct_call("GET", f"/_sim/invoices/{books['autotask:501']['Id']}"))["Balance"] == 0

        # cancelled (never settled) -> reversed in accounting, the PSA paid date cleared, payable again
        await payments_call(sims.http, payments, "POST", f"/v1/payments/{paid['payment_id']}/cancel")

        async def reversed_():
            [recorded] = await sims.acct_call("GET", "/_sim/payments")
            psa_invoice = await sims.psa_call("GET", "/_sim/invoices/501")
            return recorded["TotalAmt"] == 0 and psa_invoice["paidDate"] is None
        await eventually(reversed_, timeout=30)
        assert (await sims.acct_call("GET", f"/_sim/invoices/{books['autotask:501']['Id']}"))["Balance"] == 500.0
        reopened = (await payable(sims.http, payments))["autotask:501"]
        assert (reopened["balance"], reopened["payable"]) == ("500.00", True)
        # the cancel is not overridden: sync never reported our own payment as `paid`
        statuses = [json.loads(r.value)["data"]["status"] for r in
                    await read_topic(infra.kafka_bootstrap, names(BILLING_INVOICES), count=3, settle=1.0)]
        assert statuses == ["open", "open", "open"]

        # pay 502, then void it in the PSA: invoice.voided, payments unapplies, accounting follows
        second = await payments_call(sims.http, payments, "POST", "/v1/payments", {
            "invoice_id": "autotask:502", "contact_id": "autotask:901",
            "payment_method": {"token": "tok_visa_approved"}}, expect=201)
        await eventually(lambda: _refnum_applied(sims, second["transaction_id"]), timeout=30)
        await sims.psa_call("POST", "/_sim/invoices/502/void")
        assert (await api.run_to_end(timeout=60))["status"] == "completed"

        async def unapplied():
            found = [p for p in await sims.acct_call("GET", "/_sim/payments")
                     if p["PaymentRefNum"] == second["transaction_id"]]
            return found if found and found[0]["UnappliedAmt"] == 300.0 else None
        await eventually(unapplied, timeout=30)
        voided = (await payable(sims.http, payments))["autotask:502"]
        assert (voided["status"], voided["payable"]) == ("voided", False)


async def _payments_knows(database_url: str, contact_id: str, organization_id: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        found = await conn.fetchval("SELECT organization_id FROM payments.contacts WHERE contact_id = $1 AND active",
                                    contact_id)
    finally:
        await conn.close()
    return found == organization_id


async def _refnum_applied(sims, transaction_id: str) -> bool:
    recorded = await sims.acct_call("GET", "/_sim/payments")
    return any(p["PaymentRefNum"] == transaction_id and p["Line"] for p in recorded)


async def test_wrong_credentials_answer_false_and_raise_connection_failed(infra, system, topic_prefix):
    names = TopicNames(topic_prefix)
    await system.start("sync")
    async with simulators() as sims:
        api = SyncApi(system.urls["sync"], sims.http, ADMIN)
        await api.call("PUT", "/v1/integrations/autotask", sims.autotask_body(secret="not-the-secret"),
                       token=ADMIN, expect=200)
        result = await api.call("POST", "/v1/integrations/autotask/test", token=ADMIN, expect=200)
        assert result["ok"] is False and result["reason"]

        async def reported():  # by the test call (and by the scheduled run, which fails the same way)
            records = await read_topic(infra.kafka_bootstrap, names(BILLING_SYNC), count=1, settle=0.5)
            events = [json.loads(r.value) for r in records]
            return events if any(e["event_type"] == "integration.connection_failed" for e in events) else None
        events = await eventually(reported, timeout=30)
        failed = [e for e in events if e["event_type"] == "integration.connection_failed"]
        assert {f["data"]["integration"] for f in failed} == {"autotask"}
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
        # one event per invoice: the relay may send a batch again when the process dies between the broker's
        # acknowledgement and marking the rows sent (the same event ids, which consumers drop)
        events = {(e["data"]["invoice_id"], e["event_id"]) for e in (json.loads(r.value) for r in snapshots)}
        per_invoice = Counter(invoice_id for invoice_id, _ in events)
        assert len(per_invoice) == invoices and set(per_invoice.values()) == {1}

        calls = await sims.psa_call("GET", "/_sim/requests")
        pages = invoices // 500
        # every page read once, except at most the one in flight when the process died; one count
        assert pages <= calls["by_entity"]["Invoices"]["POST query"] <= pages + 1
        assert max(calls["max_concurrent"].values()) <= 3 and calls["over_thread_limit"] == 0


async def test_quickbooks_set_just_after_autotask_still_numbers_the_first_run_and_makes_invoices_payable(
        infra, system, topic_prefix):
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all())
    async with simulators(PsaSimConfig(latency_ms=150)) as sims, gateway(system):
        await asyncio.gather(system.start("sync"), system.start("payments"))
        payments = system.urls["payments"]
        api = SyncApi(system.urls["sync"], sims.http, ADMIN)
        await seed_customer(sims)
        for external_id, total in ((501, "500.00"), (502, "300.00")):
            await seed_invoice(sims, external_id, total)
        # Autotask first: the scheduler starts the first (full) run at once, without QuickBooks
        await api.call("PUT", "/v1/integrations/autotask", sims.autotask_body(), expect=200)

        async def first_run_going():
            runs = (await api.call("GET", "/v1/sync/runs", expect=200))["items"]
            return runs[0] if runs and runs[0]["status"] == "running" and runs[0]["entities"] else None
        going = await eventually(first_run_going, timeout=30)
        # QuickBooks a moment later, then "sync now": it answers the run going
        await api.call("PUT", "/v1/integrations/quickbooks", sims.quickbooks_body(), expect=200)
        started = await api.call("POST", "/v1/sync/runs", {}, expect=202)
        assert started["run_id"] == going["run_id"] or started["started"] is True
        assert (await api.wait_run(started["run_id"]))["status"] == "completed"

        async def numbered_everywhere():  # by that run, or by the follow-up that starts as it ends
            books = {b["PrivateNote"].rsplit(" ", 1)[1]: b for b in await sims.acct_call("GET", "/_sim/invoices")}
            if sorted(books) != ["autotask:501", "autotask:502"]:
                return None
            for invoice_id, book in books.items():
                psa_invoice = await sims.psa_call("GET", f"/_sim/invoices/{invoice_id.split(':')[1]}")
                if psa_invoice["invoiceNumber"] != book["DocNumber"]:
                    return None
            return books
        books = await eventually(numbered_everywhere, timeout=20)

        async def all_payable():
            found = await payable(sims.http, payments)
            return found if len(found) == 2 and all(i["payable"] for i in found.values()) else None
        invoices = await eventually(all_payable, timeout=20)
        for invoice_id, invoice in invoices.items():
            assert (invoice["invoice_number"], invoice["status"]) == (books[invoice_id]["DocNumber"], "open")
        runs = (await api.call("GET", "/v1/sync/runs", expect=200))["items"]
        assert all(r["status"] == "completed" for r in runs) and len(runs) <= 2, runs
