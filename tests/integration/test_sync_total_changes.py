"""A numbered PSA invoice whose total changes afterwards (issue 12, item 4): accounting's invoice follows
by a sparse update (with its SyncToken) while it carries no payment there; when it does, the change is
refused: the accounting invoice is kept, the reason stored, `sync.record_failed` raised. Sync runs
in-process against the simulators, on the real broker and database."""
from __future__ import annotations

import json

import asyncpg
import pytest

from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.kafka.topics import TopicNames
from tests.e2e.sync_support import seed_customer, seed_invoice, simulators, sync_in_process, sync_settings
from tests.support import read_topic

pytestmark = pytest.mark.timeout(120)


async def books(sims) -> dict[str, dict]:
    """Accounting invoices by our invoice id (the marker ends the PrivateNote)."""
    return {b["PrivateNote"].rsplit(" ", 1)[1]: b for b in await sims.acct_call("GET", "/_sim/invoices")}


async def rows(database_url: str, sql: str) -> list[dict]:
    conn = await asyncpg.connect(database_url)
    try:
        return [dict(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


@pytest.fixture
async def numbered(infra, database_url, topic_prefix):
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        for external_id, total in ((501, "500.00"), (502, "300.00")):
            await seed_invoice(sims, external_id, total)
        await api.setup(sims)
        assert (await api.run_to_end())["status"] == "completed"
        yield sims, api, await books(sims)


async def test_a_total_changed_in_the_psa_updates_the_accounting_invoice_without_payments(numbered, database_url):
    sims, api, before = numbered
    await sims.psa_call("PATCH", "/_sim/invoices/501", {"invoiceTotal": 650.0})

    run = await api.run_to_end()  # incremental: the open invoice is read again by id

    assert run["status"] == "completed", run
    after = await books(sims)
    invoice, old = after["autotask:501"], before["autotask:501"]
    assert (invoice["Id"], invoice["DocNumber"]) == (old["Id"], old["DocNumber"])
    assert (invoice["TotalAmt"], invoice["Balance"]) == (650.0, 650.0)
    assert int(invoice["SyncToken"]) > int(old["SyncToken"])
    assert after["autotask:502"]["SyncToken"] == before["autotask:502"]["SyncToken"]  # unchanged: untouched
    assert invoice["CustomerRef"] == old["CustomerRef"] and invoice["PrivateNote"] == old["PrivateNote"]  # sparse
    [link] = await rows(database_url, "SELECT total, balance FROM sync.accounting_invoices "
                                      "WHERE invoice_id = 'autotask:501'")
    assert (link["total"], link["balance"]) == (650, 650)
    assert await rows(database_url, "SELECT * FROM sync.sync_record_failures") == []
    [published] = await rows(database_url, "SELECT total, invoice_number, status FROM sync.invoices "
                                           "WHERE invoice_id = 'autotask:501'")
    assert published == {"total": 650, "invoice_number": old["DocNumber"], "status": "open"}


async def test_a_total_changed_after_payments_in_accounting_is_refused_with_a_ticket(
        numbered, infra, database_url, topic_prefix):
    sims, api, before = numbered
    paid = before["autotask:502"]
    await sims.acct_call("POST", f"/_sim/invoices/{paid['Id']}/pay-elsewhere", {"amount": "100.00"})
    await sims.psa_call("PATCH", "/_sim/invoices/502", {"invoiceTotal": 350.0})

    run = await api.run_to_end()

    assert run["status"] == "completed", run
    kept = (await books(sims))["autotask:502"]
    assert (kept["TotalAmt"], kept["Balance"]) == (300.0, 200.0)
    [failure] = await rows(database_url,
                           "SELECT run_id::text, entity, record_id, reason FROM sync.sync_record_failures")
    assert (failure["run_id"], failure["entity"], failure["record_id"]) == (run["run_id"], "invoice_totals",
                                                                             "autotask:502")
    assert "Autotask invoice 502" in failure["reason"] and paid["DocNumber"] in failure["reason"]
    assert all(part in failure["reason"] for part in ("now totals 350.00", "holds 300.00", "100.00 already paid"))
    topic = TopicNames(topic_prefix)(BILLING_SYNC)
    events = [json.loads(r.value) for r in await read_topic(infra.kafka_bootstrap, topic, count=5, settle=0.5)]
    [raised] = [e["data"] for e in events if e["event_type"] == "sync.record_failed"]
    assert raised == {"integration": "quickbooks", "run_id": run["run_id"], "entity": "invoice_totals",
                      "record_id": "autotask:502", "reason": failure["reason"]}
