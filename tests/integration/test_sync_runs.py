"""Sync runs against the PSA and accounting simulators, with the sync service in-process on the real
broker and database: numbering, directory, incremental runs, voids, paid elsewhere, progress."""
from __future__ import annotations

import asyncio
import json

import pytest

from billing_shared.events.catalog import BILLING_DIRECTORY, BILLING_INVOICES, BILLING_SYNC
from billing_shared.kafka.topics import TopicNames
from billing_shared.web.paging import encode_cursor
from tests.e2e.sync_support import (
    CLIENT, MANAGER, seed_customer, seed_invoice, simulators, sync_in_process, sync_settings,
)
from tests.support import eventually, read_topic

pytestmark = pytest.mark.timeout(90)


def values(records) -> list[dict]:
    return [json.loads(r.value) for r in records]


async def test_a_first_run_numbers_invoices_in_accounting_and_the_psa_and_publishes_them(
        infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        for external_id, total in ((501, "500.00"), (502, "300.00"), (503, "1000.00")):
            await seed_invoice(sims, external_id, total)
        await api.setup(sims)
        run = await api.run_to_end()
        assert run["status"] == "completed", run
        assert run["mode"] == "full"
        assert run["entities"]["invoices"] == {"fetched": 3, "total": 3, "done": True}
        assert run["entities"]["numbering"]["fetched"] == 3

        books = await sims.acct_call("GET", "/_sim/invoices")
        numbers = {b["PrivateNote"].rsplit(":", 1)[1]: b["DocNumber"] for b in books}
        assert sorted(numbers) == ["501", "502", "503"]
        assert [b["TotalAmt"] for b in sorted(books, key=lambda b: b["DocNumber"])] == [500.0, 300.0, 1000.0]
        for external_id, number in numbers.items():
            psa_invoice = await sims.psa_call("GET", f"/_sim/invoices/{external_id}")
            assert psa_invoice["invoiceNumber"] == number

        snapshots = values(await read_topic(infra.kafka_bootstrap, names(BILLING_INVOICES), count=3, settle=1.0))
        assert len(snapshots) == 3  # one snapshot each: published once numbered, never before
        by_id = {s["data"]["invoice_id"]: s["data"] for s in snapshots}
        assert by_id["autotask:501"]["invoice_number"] == numbers["501"]
        assert by_id["autotask:501"]["status"] == "open"
        assert by_id["autotask:501"]["organization_id"] == "autotask:678"
        assert by_id["autotask:502"]["total"] == "300.00"
        assert {s["data"]["source_version"] for s in snapshots} == {1}

        directory = values(await read_topic(infra.kafka_bootstrap, names(BILLING_DIRECTORY), count=2, settle=0.5))
        kinds = {d["event_type"]: d["data"] for d in directory}
        assert kinds["organization.synced"] == {"organization_id": "autotask:678", "name": "Acme Dental",
                                                "active": True, "default_contact_id": "autotask:901"}
        assert kinds["contact.synced"]["email"] == "ap@acme.example"

        sync_events = values(await read_topic(infra.kafka_bootstrap, names(BILLING_SYNC), count=3, settle=0.5))
        types = [e["event_type"] for e in sync_events]
        assert types[0] == "sync.started" and types[-1] == "sync.completed"
        assert "sync.progress" in types


async def test_later_runs_are_incremental_and_pick_up_new_invoices_voids_and_payments_made_elsewhere(
        infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        await seed_invoice(sims, 501, "500.00")
        await seed_invoice(sims, 502, "300.00")
        await api.setup(sims)
        assert (await api.run_to_end())["status"] == "completed"
        books = {b["PrivateNote"].rsplit(":", 1)[1]: b for b in await sims.acct_call("GET", "/_sim/invoices")}

        await seed_invoice(sims, 503, "1000.00")
        await sims.psa_call("POST", "/_sim/invoices/501/void")
        await sims.acct_call("POST", f"/_sim/invoices/{books['502']['Id']}/pay-elsewhere", {})
        await sims.psa_call("POST", "/_sim/companies", {"id": 679, "companyName": "Bolt Legal"})
        await sims.psa_call("DELETE", "/_sim/requests")
        run = await api.run_to_end()
        assert (run["status"], run["mode"]) == ("completed", "incremental"), run
        assert run["entities"]["invoices"]["fetched"] == 1  # only the new one: id watermark
        assert run["entities"]["voided_invoices"]["fetched"] == 1

        snapshots = values(await read_topic(infra.kafka_bootstrap, names(BILLING_INVOICES), count=5, settle=1.0))
        latest = {}
        for s in snapshots:
            latest[s["data"]["invoice_id"]] = s
        assert [s["data"]["source_version"] for s in snapshots if s["data"]["invoice_id"] == "autotask:501"] == [1, 2]
        assert latest["autotask:501"]["event_type"] == "invoice.voided"
        assert latest["autotask:501"]["data"]["status"] == "voided"
        assert latest["autotask:502"]["data"]["status"] == "paid"  # paid elsewhere: balance 0 in accounting
        assert latest["autotask:502"]["data"]["paid_on"] is not None
        assert latest["autotask:503"]["data"]["invoice_number"] is not None
        assert len(snapshots) == 5

        calls = await sims.psa_call("GET", "/_sim/requests")
        # an incremental run reads pages of changes only: one query per entity, the void pass, and the
        # invoices held open read again by id for their paid dates (one page)
        assert calls["by_entity"]["Invoices"].get("POST query", 0) == 3
        assert calls["by_entity"]["Companies"] == {"POST query": 1}
        organizations = await api.call("GET", "/v1/organizations", token=MANAGER, expect=200)
        assert [o["name"] for o in organizations["items"]] == ["Acme Dental", "Bolt Legal"]


async def test_one_run_at_a_time_and_progress_while_it_goes(infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        await sims.psa_call("POST", "/_sim/bulk", {"invoices": [
            {"id": 600_000 + n, "companyID": 678, "invoiceNumber": f"H{n}", "invoiceTotal": 10.0,
             "invoiceDateTime": "2026-01-01T00:00:00"} for n in range(1200)]})
        await sims.psa_call("POST", "/_sim/config", {"latency_ms": 150})
        await api.setup(sims, quickbooks=False)
        first = await api.call("POST", "/v1/sync/runs", {}, expect=202)
        second = await api.call("POST", "/v1/sync/runs", {"mode": "full"}, expect=202)
        assert second["run_id"] == first["run_id"] and second["started"] is False
        run = await api.wait_run(first["run_id"])
        assert run["status"] == "completed"
        assert run["entities"]["invoices"] == {"fetched": 1200, "total": 1200, "done": True}
        assert run["entities"]["organizations"] == {"fetched": 1, "total": 1, "done": True}

        events = values(await read_topic(infra.kafka_bootstrap, names(BILLING_SYNC), count=6, settle=0.5))
        invoice_progress = [e["data"] for e in events if e["event_type"] == "sync.progress"
                            and e["data"]["entity"] == "invoices"]
        assert [p["fetched"] for p in invoice_progress] == [500, 1000, 1200, 1200]
        assert invoice_progress[-1]["total"] == 1200
        # without accounting, PSA numbers are the invoice numbers
        snapshots = values(await read_topic(infra.kafka_bootstrap, names(BILLING_INVOICES), count=1200))
        assert {s["data"]["invoice_number"] for s in snapshots} == {f"H{n}" for n in range(1200)}


async def test_a_failing_psa_ends_the_run_as_failed_with_the_reason(infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    settings = sync_settings(infra, database_url, topic_prefix)
    async with simulators() as sims, sync_in_process(settings) as api:
        await seed_customer(sims)
        await sims.psa_call("POST", "/_sim/faults", {"entity": "Tickets", "status": 500, "count": 10,
                                                      "message": "The logged in Resource does not have the adequate "
                                                                 "permissions to query Tickets"})
        await api.setup(sims, quickbooks=False)
        run = await api.run_to_end()
        assert run["status"] == "failed"
        assert "adequate permissions" in run["reason"]
        failed = [e for e in values(await read_topic(infra.kafka_bootstrap, names(BILLING_SYNC), count=2, settle=0.5))
                  if e["event_type"] == "sync.failed"]
        assert failed and failed[0]["data"]["run_id"] == run["run_id"]
        # the next run starts over as a full one (no run has completed)
        await sims.psa_call("DELETE", "/_sim/faults")
        again = await api.run_to_end()
        assert (again["status"], again["mode"]) == ("completed", "full")


async def test_the_psa_request_budget_is_respected(infra, database_url, topic_prefix):
    settings = sync_settings(infra, database_url, topic_prefix, psa_hourly_limit=30, psa_reserve=10)
    async with simulators() as sims, sync_in_process(settings) as api:
        await seed_customer(sims)
        await sims.psa_call("POST", "/_sim/bulk", {"invoices": [
            {"id": 700_000 + n, "companyID": 678, "invoiceNumber": f"B{n}", "invoiceTotal": 10.0,
             "invoiceDateTime": "2026-01-01T00:00:00"} for n in range(15_000)]})
        await api.setup(sims, quickbooks=False)
        run = await api.run_to_end()
        assert run["status"] == "failed"
        assert "budget" in run["reason"]
        calls = await sims.psa_call("GET", "/_sim/requests")
        assert calls["total"] <= 20  # the hourly limit minus the reserve, never more
        assert max(calls["max_concurrent"].values()) <= 3 and calls["over_thread_limit"] == 0


async def test_quotes_are_open_opportunities_with_the_mapped_link_and_clients_see_their_own(
        infra, database_url, topic_prefix):
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        await seed_customer(sims, 679, "Bolt Legal", contact_id=902)
        udf = [{"name": "Quote URL", "value": "https://quotes.example/q1"}]
        await sims.psa_call("POST", "/_sim/opportunities", {"id": 41, "companyID": 678, "title": "Firewall refresh",
                                                            "amount": 1200.5, "userDefinedFields": udf})
        await sims.psa_call("POST", "/_sim/opportunities", {"id": 42, "companyID": 678, "title": "Backup",
                                                            "userDefinedFields": [{"name": "Quote URL", "value": ""}]})
        await sims.psa_call("POST", "/_sim/opportunities", {"id": 43, "companyID": 678, "title": "Lost", "status": 2})
        await sims.psa_call("POST", "/_sim/opportunities", {"id": 44, "companyID": 679, "title": "Other org"})
        await api.setup(sims, quickbooks=False)
        assert (await api.run_to_end())["status"] == "completed"

        quotes = await api.call("GET", "/v1/organizations/autotask:678/quotes", token=CLIENT, expect=200)
        assert [(q["title"], q["quote_url"], q["amount"]) for q in quotes["items"]] == [
            ("Firewall refresh", "https://quotes.example/q1", "1200.50"), ("Backup", None, None)]
        await api.call("GET", "/v1/organizations/autotask:679/quotes", token=CLIENT, expect=404)
        staff = await api.call("GET", "/v1/organizations/autotask:679/quotes", token=MANAGER, expect=200)
        assert [q["title"] for q in staff["items"]] == ["Other org"]
        await api.call("PUT", "/v1/settings/client-access", {"quotes": False}, expect=200)
        await api.call("GET", "/v1/organizations/autotask:678/quotes", token=CLIENT, expect=404)


async def test_the_scheduler_starts_the_first_run_by_itself(infra, database_url, topic_prefix):
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        await api.setup(sims, quickbooks=False)

        async def scheduled():
            runs = (await api.call("GET", "/v1/sync/runs", expect=200))["items"]
            return runs if runs and runs[0]["status"] == "completed" else None
        [run] = await eventually(scheduled, timeout=30)
        assert (run["trigger"], run["mode"]) == ("schedule", "full")
        # not due again before sync_interval_minutes (60) have passed
        await asyncio.sleep(1.5)
        assert len((await api.call("GET", "/v1/sync/runs", expect=200))["items"]) == 1


async def _runs(api) -> list[dict]:
    return (await api.call("GET", "/v1/sync/runs", expect=200))["items"]


async def test_quickbooks_set_while_the_psa_steps_run_numbers_in_that_same_run(infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        await sims.psa_call("POST", "/_sim/bulk", {"invoices": [
            {"id": 610_000 + n, "companyID": 678, "invoiceNumber": f"N{n}", "invoiceTotal": 10.0,
             "invoiceDateTime": "2026-01-01T00:00:00"} for n in range(1200)]})
        await seed_invoice(sims, 501, "500.00")  # no number yet: accounting gives it one
        await sims.psa_call("POST", "/_sim/config", {"latency_ms": 300})
        await api.setup(sims, quickbooks=False)  # the scheduler starts the first run at once

        async def reading_invoices():
            runs = await _runs(api)
            going = runs[0] if runs and runs[0]["status"] == "running" else None
            return going if going and going["entities"].get("invoices", {}).get("fetched", 0) >= 500 else None
        going = await eventually(reading_invoices, timeout=30)
        await api.call("PUT", "/v1/integrations/quickbooks", sims.quickbooks_body(), expect=200)
        joined = await api.call("POST", "/v1/sync/runs", {}, expect=202)
        assert (joined["run_id"], joined["started"]) == (going["run_id"], False)

        run = await api.wait_run(going["run_id"])
        assert run["status"] == "completed", run
        assert run["entities"]["numbering"]["fetched"] == 1  # QuickBooks read when the accounting steps began
        assert run["follow_up_requested"] is False  # the run took the change in: no follow-up needed
        [book] = await sims.acct_call("GET", "/_sim/invoices")
        assert (await sims.psa_call("GET", "/_sim/invoices/501"))["invoiceNumber"] == book["DocNumber"]
        snapshots = values(await read_topic(infra.kafka_bootstrap, names(BILLING_INVOICES), count=1201, settle=0.5))
        [numbered] = [s["data"] for s in snapshots if s["data"]["invoice_id"] == "autotask:501"]
        assert (numbered["invoice_number"], numbered["status"]) == (book["DocNumber"], "open")
        await asyncio.sleep(1.5)  # the scheduler ticks every 0.5 s: no follow-up run starts
        assert [r["run_id"] for r in await _runs(api)] == [going["run_id"]]


async def test_settings_changed_during_a_run_it_did_not_take_in_start_a_follow_up_as_it_ends(
        infra, database_url, topic_prefix):
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        await sims.psa_call("POST", "/_sim/bulk", {"invoices": [
            {"id": 620_000 + n, "companyID": 678, "invoiceNumber": f"F{n}", "invoiceTotal": 10.0,
             "invoiceDateTime": "2026-01-01T00:00:00"} for n in range(1200)]})
        await api.setup(sims, quickbooks=False)
        first = await eventually(lambda: _completed_runs(api, 1), timeout=30)
        await sims.psa_call("POST", "/_sim/config", {"latency_ms": 300})
        started = await api.call("POST", "/v1/sync/runs", {"mode": "full"}, expect=202)

        async def going():
            run = await api.call("GET", f"/v1/sync/runs/{started['run_id']}", expect=200)
            return run["status"] == "running" and run["entities"].get("invoices", {}).get("fetched", 0) >= 500
        await eventually(going, timeout=30)
        # the Autotask settings change mid-run: this run keeps the client it started with
        await api.call("PUT", "/v1/integrations/autotask", sims.autotask_body(sync_interval_minutes=45), expect=200)
        again = await api.call("POST", "/v1/sync/runs", {}, expect=202)
        assert (again["run_id"], again["started"]) == (started["run_id"], False)
        assert (await api.wait_run(started["run_id"]))["status"] == "completed"

        async def followed():
            runs = await _runs(api)
            return runs if len(runs) == 3 and runs[0]["status"] == "completed" else None
        runs = await eventually(followed, timeout=30)
        assert [r["trigger"] for r in runs] == ["follow_up", "request", "schedule"]
        assert [r["run_id"] for r in runs[1:]] == [started["run_id"], first[0]["run_id"]]
        assert [r["follow_up_requested"] for r in runs] == [False, True, False]
        assert again["follow_up_requested"] is True  # the POST that joined the run said so
        await asyncio.sleep(1.5)
        assert len(await _runs(api)) == 3  # one follow-up, then the schedule again (60 minutes)


async def _completed_runs(api, count: int) -> list[dict] | None:
    runs = await _runs(api)
    return runs if len(runs) == count and all(r["status"] == "completed" for r in runs) else None


async def test_without_accounting_a_psa_paid_date_means_paid_elsewhere(infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        await seed_invoice(sims, 501, "500.00", invoiceNumber="H-501", paidDate="2026-11-20T00:00:00")
        await seed_invoice(sims, 502, "300.00", invoiceNumber="H-502")
        await api.setup(sims, quickbooks=False)
        assert (await api.run_to_end())["status"] == "completed"
        snapshots = values(await read_topic(infra.kafka_bootstrap, names(BILLING_INVOICES), count=2, settle=0.5))
        by_id = {s["data"]["invoice_id"]: s["data"] for s in snapshots}
        assert len(snapshots) == 2
        assert (by_id["autotask:501"]["status"], by_id["autotask:501"]["paid_on"]) == ("paid", "2026-11-20")
        assert by_id["autotask:501"]["invoice_number"] == "H-501"
        assert (by_id["autotask:502"]["status"], by_id["autotask:502"]["paid_on"]) == ("open", None)


async def test_an_incremental_run_sees_a_paid_date_set_in_the_psa_since(infra, database_url, topic_prefix):
    """Invoices have no change field: the invoices held open are read again by id in every incremental run,
    so an invoice paid by other means (the paid date set in Autotask) stops being payable within a run."""
    names = TopicNames(topic_prefix)
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        await seed_invoice(sims, 501, "500.00", invoiceNumber="H-501")
        await seed_invoice(sims, 502, "300.00", invoiceNumber="H-502")
        await api.setup(sims, quickbooks=False)
        assert (await api.run_to_end())["status"] == "completed"
        await sims.psa_call("PATCH", "/_sim/invoices/502", {"paidDate": "2026-11-25T00:00:00"})
        run = await api.run_to_end()
        assert (run["status"], run["mode"]) == ("completed", "incremental"), run
        assert run["entities"]["open_invoices"] == {"fetched": 2, "total": 2, "done": True}
        snapshots = values(await read_topic(infra.kafka_bootstrap, names(BILLING_INVOICES), count=3, settle=1.0))
        assert len(snapshots) == 3  # the two, then 502 again; 501 did not change and is not published again
        assert (snapshots[-1]["data"]["invoice_id"], snapshots[-1]["data"]["status"],
                snapshots[-1]["data"]["paid_on"]) == ("autotask:502", "paid", "2026-11-25")
        run = await api.run_to_end()
        assert run["entities"]["open_invoices"]["fetched"] == 1  # 502 is no longer held open


async def test_a_cursor_this_api_did_not_hand_out_is_an_invalid_request(infra, database_url, topic_prefix):
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        await api.setup(sims, quickbooks=False)
        await eventually(lambda: _completed_runs(api, 1), timeout=30)
        assert (await api.run_to_end(body={"mode": "full"}))["status"] == "completed"
        page = await api.call("GET", "/v1/sync/runs?limit=1", expect=200)
        rest = await api.call("GET", f"/v1/sync/runs?limit=1&cursor={page['next_cursor']}", expect=200)
        assert [r["trigger"] for r in page["items"] + rest["items"]] == ["request", "schedule"]
        for cursor in ("not-base64!", encode_cursor(["not a time", "x"]),
                       encode_cursor(["2026-11-27T10:00:00+00:00", "not-a-uuid"]),
                       encode_cursor(["2026-11-27T10:00:00", "9b2f3c1e-0000-4000-8000-000000000000"]),
                       encode_cursor([1, 2]), encode_cursor(["only one"]), encode_cursor({"a": 1})):
            refused = await api.call("GET", f"/v1/sync/runs?cursor={cursor}", expect=422)
            assert refused["error"]["code"] == "invalid_request", cursor
        for path in ("/v1/organizations", "/v1/organizations/autotask:678/contacts", "/v1/sync/payment-writebacks"):
            refused = await api.call("GET", f"{path}?cursor={encode_cursor([7])}", token=None if "writebacks" in path
                                     else MANAGER, expect=422)
            assert refused["error"]["code"] == "invalid_request", path
