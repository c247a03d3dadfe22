"""When the books change under sync: a reset accounting company (ids and numbers start again at 1 and
1001, as after `make down` / `make up` with a fresh simulator, or a reset sandbox), QuickBooks
connected to another company (realm), and one invoice accounting refuses. Runs go on; numbers
already given stay; no number is given twice; a skipped invoice is recorded with its reason."""
from __future__ import annotations

import json

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.kafka.topics import TopicNames
from billing_simulators.accounting import AccountingSimConfig
from billing_simulators.accounting import create_app as accounting_app
from billing_simulators.accounting.state import SIM_STATE
from tests.e2e.sync_support import seed_customer, seed_invoice, simulators, sync_in_process, sync_settings
from tests.support import read_topic

pytestmark = pytest.mark.timeout(90)


async def psa_numbers(sims, *external_ids: int) -> dict[int, str | None]:
    return {i: (await sims.psa_call("GET", f"/_sim/invoices/{i}"))["invoiceNumber"] for i in external_ids}


async def links(database_url: str) -> dict[str, dict]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT invoice_id, realm_id, accounting_id, doc_number, retired_at IS NOT NULL AS retired"
                                " FROM sync.accounting_invoices")
    finally:
        await conn.close()
    return {r["invoice_id"]: dict(r) for r in rows}


async def test_a_reset_accounting_company_numbers_new_invoices_and_keeps_the_numbers_given(
        infra, database_url, topic_prefix):
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        await seed_invoice(sims, 501, "500.00")
        await seed_invoice(sims, 502, "300.00")
        await api.setup(sims)
        assert (await api.run_to_end())["status"] == "completed"
        before = await psa_numbers(sims, 501, 502)
        assert sorted(before.values()) == ["1001", "1002"]

        # The books start again: ids 1, 2, ... and numbers 1001, ... are handed out anew
        await sims.acct_call("POST", "/_sim/reset", {})
        # the accountant sets the customer up again in the new books: it gets id 1 again too
        sims.accounting.app[SIM_STATE].books.create("Customer", {"DisplayName": "Acme Dental"})
        await seed_invoice(sims, 503, "1000.00")
        await seed_invoice(sims, 504, "40.00")
        second = await api.run_to_end(body={"mode": "full"})
        assert second["status"] == "completed", second
        after = await psa_numbers(sims, 501, 502, 503, 504)
        assert {i: after[i] for i in (501, 502)} == before  # numbers clients have seen stay
        assert after[503] and after[504]
        assert len(set(after.values())) == 4  # never one number on two invoices
        assert {after[503], after[504]} == {"1003", "1004"}  # the new books go on after what was given

        books = await sims.acct_call("GET", "/_sim/invoices")
        # only the new invoices were created in the new books, each once, with the number in the PSA
        assert sorted((b["PrivateNote"], b["DocNumber"]) for b in books) == sorted(
            [("billing-link invoice autotask:503", after[503]), ("billing-link invoice autotask:504", after[504])])
        linked = await links(database_url)
        assert linked["autotask:501"]["retired"] and linked["autotask:502"]["retired"]
        assert not linked["autotask:503"]["retired"] and linked["autotask:503"]["accounting_id"] in {"1", "2"}

        # and the runs after it keep working
        third = await api.run_to_end()
        assert third["status"] == "completed", third
        assert await psa_numbers(sims, 501, 502, 503, 504) == after


async def test_another_quickbooks_company_numbers_only_what_has_no_number_yet(infra, database_url, topic_prefix):
    other = TestServer(accounting_app(AccountingSimConfig(realm_id="other-realm", first_doc_number=5001)),
                       host="127.0.0.1")
    await other.start_server()
    try:
        async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
            await seed_customer(sims)
            await seed_invoice(sims, 501, "500.00")
            await api.setup(sims)
            assert (await api.run_to_end())["status"] == "completed"
            assert (await psa_numbers(sims, 501))[501] == "1001"

            other_url = str(other.make_url("")).rstrip("/")
            await api.call("PUT", "/v1/integrations/quickbooks",
                           sims.quickbooks_body(base_url=other_url, realm_id="other-realm"), expect=200)
            await seed_invoice(sims, 502, "300.00")
            run = await api.run_to_end(body={"mode": "full"})
            assert run["status"] == "completed", run
            assert await psa_numbers(sims, 501, 502) == {501: "1001", 502: "5001"}
            async with sims.http.get(f"{other_url}/_sim/invoices") as response:
                in_other = await response.json()
            assert [b["PrivateNote"] for b in in_other] == ["billing-link invoice autotask:502"]
            linked = await links(database_url)
            assert (linked["autotask:501"]["realm_id"], linked["autotask:501"]["doc_number"]) == ("sim-realm", "1001")
            assert (linked["autotask:502"]["realm_id"], linked["autotask:502"]["accounting_id"]) == ("other-realm", "1")
    finally:
        await other.close()


async def test_an_invoice_accounting_refuses_is_skipped_with_its_reason_and_the_others_are_numbered(
        infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        for external_id, total in ((501, "500.00"), (502, "300.00"), (503, "1000.00")):
            await seed_invoice(sims, external_id, total)
        # QuickBooks refuses the first invoice create (501 is numbered first: id order)
        await sims.acct_call("POST", "/_sim/faults", {"path_contains": "/invoice", "method": "POST", "status": 400,
                                                      "code": "6000", "message": "A business validation error",
                                                      "count": 1})
        await api.setup(sims)
        run = await api.run_to_end()
        assert run["status"] == "completed", run
        numbers = await psa_numbers(sims, 501, 502, 503)
        assert numbers[501] is None and numbers[502] and numbers[503]

        conn = await asyncpg.connect(database_url)
        try:
            [failure] = await conn.fetch("SELECT run_id::text, entity, record_id, reason FROM sync.sync_record_failures")
        finally:
            await conn.close()
        assert (failure["run_id"], failure["entity"], failure["record_id"]) == (run["run_id"], "numbering",
                                                                                 "autotask:501")
        assert "6000" in failure["reason"] and "business validation" in failure["reason"]

        events = [json.loads(r.value) for r in await read_topic(infra.kafka_bootstrap, names(BILLING_SYNC),
                                                                 count=4, settle=0.5)]
        [skipped] = [e["data"] for e in events if e["event_type"] == "sync.record_failed"]
        assert skipped == {"integration": "quickbooks", "run_id": run["run_id"], "entity": "numbering",
                           "record_id": "autotask:501", "reason": failure["reason"]}
        assert [e["event_type"] for e in events if e["event_type"] in ("sync.completed", "sync.failed")] == \
            ["sync.completed"]

        # the next run tries it again and numbers it
        again = await api.run_to_end()
        assert again["status"] == "completed", again
        assert (await psa_numbers(sims, 501))[501] not in (None, numbers[502], numbers[503])
