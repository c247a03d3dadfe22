"""Three-way reconciliation as processes (sync, payments) with the PSA, accounting and gateway simulators:
books that agree give a clean report; one drift of each class the simulators can inject (a sale made in
the gateway's own terminal, a payment deleted in accounting, a PSA paid date cleared by hand, an invoice
paid in accounting by other means) is found exactly, with both parts in; a repair of the books drifts
clears them (the next run finds neither) and moves no money."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from billing_shared.kafka.topics import TopicNames, ensure_topics
from tests.e2e.conftest import ADMIN
from tests.e2e.sync_support import SyncApi, seed_customer, seed_invoice, simulators
from tests.e2e.test_sync_flow import ACTIVE_PAYMENTS, _payments_knows, gateway, payable, payments_call
from tests.support import eventually

pytestmark = pytest.mark.timeout(240)


async def reconcile(http: Any, payments: str) -> dict[str, Any]:
    """A run of today, to its completed report."""
    today = datetime.now(UTC).date().isoformat()
    run = await payments_call(http, payments, "POST", "/v1/reconciliation/runs",
                              {"from_date": today, "to_date": today}, token=ADMIN, expect=202)

    async def completed():
        report = await payments_call(http, payments, "GET", f"/v1/reconciliation/runs/{run['run_id']}", token=ADMIN)
        return report if report["run"]["status"] == "completed" else None
    return await eventually(completed, timeout=60, interval=0.3)


def found(report: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    return sorted((d["code"], d["payment_id"], d["invoice_id"]) for d in report["drifts"])


async def test_each_drift_class_is_found_by_one_run_and_a_repair_clears_the_books(infra, system, topic_prefix,
                                                                                   database_url):
    await ensure_topics(infra.kafka_bootstrap, TopicNames(topic_prefix).all())
    system.env.update(RECONCILIATION_POLL_SECONDS="0.3", RECONCILIATION_NIGHTLY_ENABLED="false")
    async with simulators() as sims, gateway(system) as gateway_url:
        await asyncio.gather(system.start("sync"), system.start("payments"))
        payments, http = system.urls["payments"], sims.http
        api = SyncApi(system.urls["sync"], http, ADMIN)
        await payments_call(http, payments, "PUT", "/v1/settings/payment-processing", ACTIVE_PAYMENTS, token=ADMIN)
        await seed_customer(sims)
        for external_id, total in ((701, "400.00"), (702, "150.00"), (703, "200.00")):
            await seed_invoice(sims, external_id, total)
        await api.setup(sims)
        assert (await api.run_to_end(timeout=60))["status"] == "completed"

        async def all_payable():
            invoices = await payable(http, payments)
            return invoices if len(invoices) == 3 and all(i["payable"] for i in invoices.values()) else None
        await eventually(all_payable, timeout=30)
        await eventually(lambda: _payments_knows(database_url, "autotask:901", "autotask:678"), timeout=30)
        paid = {}
        for invoice_id in ("autotask:701", "autotask:702"):
            paid[invoice_id] = await payments_call(http, payments, "POST", "/v1/payments", {
                "invoice_id": invoice_id, "contact_id": "autotask:901",
                "payment_method": {"token": "tok_visa_approved"}}, expect=201)

        async def written_back():
            books = await sims.acct_call("GET", "/_sim/payments")
            dated = [(await sims.psa_call("GET", f"/_sim/invoices/{n}"))["paidDate"] for n in (701, 702)]
            return books if len(books) == 2 and all(dated) else None
        books_payments = await eventually(written_back, timeout=30)

        for bad in ({"from_date": "0001-01-01"}, {"from_date": "2026-11-02", "to_date": "2026-11-01"},
                    {"from_date": "2026-01-01", "to_date": "2026-06-30"}, {"to_date": "2999-01-01"}):
            refused = await payments_call(http, payments, "POST", "/v1/reconciliation/runs", bad, token=ADMIN,
                                          expect=422)  # (the first found by the API fuzzing: year 1 broke a date)
            assert refused["error"]["code"] == "invalid_request", refused
        clean = await reconcile(http, payments)
        assert (clean["run"]["gateway"]["state"], clean["run"]["books"]["state"]) == ("checked", "checked")
        assert clean["drifts"] == [], clean["drifts"]
        assert clean["run"]["gateway"]["checked"] == {"payments": 2, "gateway_transactions": 2}

        # one drift of each class
        async with http.post(f"{gateway_url}/_sim/transactions", json={"amount": "12.34"}) as made:
            elsewhere = await made.json()
        deleted = next(p for p in books_payments if paid["autotask:701"]["payment_id"] in p["PrivateNote"])
        await sims.acct_call("POST", f"/_sim/payments/{deleted['Id']}/delete")
        await sims.psa_call("PATCH", "/_sim/invoices/702", {"paidDate": None})
        invoices = {b["PrivateNote"].rsplit(" ", 1)[1]: b for b in await sims.acct_call("GET", "/_sim/invoices")}
        await sims.acct_call("POST", f"/_sim/invoices/{invoices['autotask:703']['Id']}/pay-elsewhere", {})

        drifted = await reconcile(http, payments)
        assert found(drifted) == sorted([
            ("gateway_sale_unknown_to_ledger", None, None),
            ("accounting_payment_missing", paid["autotask:701"]["payment_id"], None),
            ("psa_paid_date_differs", None, "autotask:702"),
            ("paid_elsewhere_while_open", None, "autotask:703"),
        ]), drifted["drifts"]
        by_code = {d["code"]: d for d in drifted["drifts"]}
        assert by_code["gateway_sale_unknown_to_ledger"]["transaction_id"] == elsewhere["transaction_id"]
        assert by_code["accounting_payment_missing"]["evidence"]["accounting"]
        assert [by_code[c]["repairable"] for c in ("gateway_sale_unknown_to_ledger", "accounting_payment_missing",
                                                   "psa_paid_date_differs", "paid_elsewhere_while_open")] == \
            [False, True, True, False]  # a sale with no payment of the ledger: explained, never repaired
        assert drifted["run"]["drift_count"] == 4 and drifted["run"]["open_count"] == 4

        # repair the books drifts: written again from the ledger
        for code in ("accounting_payment_missing", "psa_paid_date_differs"):
            repaired = await payments_call(http, payments, "POST",
                                           f"/v1/reconciliation/drifts/{by_code[code]['drift_id']}/repair", token=ADMIN)
            assert repaired["state"] == "repair_requested"

        async def books_again():
            again = [p for p in await sims.acct_call("GET", "/_sim/payments")
                     if paid["autotask:701"]["payment_id"] in p["PrivateNote"] and p["TotalAmt"] == 400.0]
            return again if again and (await sims.psa_call("GET", "/_sim/invoices/702"))["paidDate"] else None
        await eventually(books_again, timeout=45)

        after = await reconcile(http, payments)
        assert [c for c, _p, _i in found(after)] == ["gateway_sale_unknown_to_ledger", "paid_elsewhere_while_open"]
        async with http.get(f"{gateway_url}/_sim/transactions") as listed:
            sales = [t for t in await listed.json() if t["type"] == "sale"]
        assert len(sales) == 3  # two payments and the terminal's sale: no repair charged or refunded anything
        assert all(t["condition"] != "canceled" for t in sales)
