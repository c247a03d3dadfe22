"""Autopay against the books, as processes with the PSA, accounting and gateway simulators: an invoice paid in
accounting by other means a moment before its autopay charge is skipped (`paid_elsewhere`, nothing charged,
and payments learns it is paid from the snapshot sync publishes), while another invoice due the same day is
charged once."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from billing_shared.kafka.topics import TopicNames, ensure_topics
from tests.e2e.conftest import ADMIN, MANAGER
from tests.e2e.sync_support import SyncApi, seed_customer, seed_invoice, simulators
from tests.e2e.test_sync_flow import ACTIVE_PAYMENTS, _payments_knows, gateway, payable, payments_call
from tests.support import eventually

pytestmark = pytest.mark.timeout(180)

ORG = "autotask:678"


async def test_an_invoice_paid_in_accounting_a_moment_before_is_skipped_and_the_other_charged(
        infra, system, topic_prefix, database_url):
    await ensure_topics(infra.kafka_bootstrap, TopicNames(topic_prefix).all())
    system.env.update(AUTOPAY_INTERVAL_SECONDS="0.3", AUTOPAY_CHECK_TIMEOUT_SECONDS="5")
    today = datetime.now(UTC).date()
    dates = {"invoiceDateTime": f"{today - timedelta(days=30)}T00:00:00", "dueDate": f"{today}T00:00:00"}
    async with simulators() as sims, gateway(system) as gateway_url:
        await asyncio.gather(system.start("sync"), system.start("payments"))
        payments = system.urls["payments"]
        api = SyncApi(system.urls["sync"], sims.http, ADMIN)
        await payments_call(sims.http, payments, "PUT", "/v1/settings/payment-processing", ACTIVE_PAYMENTS,
                            token=ADMIN)
        await seed_customer(sims)
        await seed_invoice(sims, 601, "400.00", **dates)
        await seed_invoice(sims, 602, "150.00", **dates)
        await api.setup(sims)
        assert (await api.run_to_end(timeout=60))["status"] == "completed"

        async def both_payable():
            found = await payable(sims.http, payments)
            return found if len(found) == 2 and all(i["payable"] for i in found.values()) else None
        await eventually(both_payable, timeout=30)
        await eventually(lambda: _payments_knows(database_url, "autotask:901", ORG), timeout=30)
        method = await payments_call(sims.http, payments, "POST", f"/v1/organizations/{ORG}/wallet",
                                     {"token": "tok_visa_approved", "contact_id": "autotask:901"}, expect=201)

        # paid by cheque in accounting; sync has not read it back, so payments still shows it open
        books = {b["PrivateNote"].rsplit(" ", 1)[1]: b for b in await sims.acct_call("GET", "/_sim/invoices")}
        await sims.acct_call("POST", f"/_sim/invoices/{books['autotask:601']['Id']}/pay-elsewhere", {})
        assert (await payable(sims.http, payments))["autotask:601"]["status"] == "open"

        await payments_call(sims.http, payments, "PUT", f"/v1/organizations/{ORG}/autopay", {
            "method_id": method["method_id"], "rule": {"kind": "on_due_date"}, "max_amount": "1000.00"})

        async def settled():
            page = await payments_call(sims.http, payments, "GET", f"/v1/organizations/{ORG}/autopay/attempts")
            items = {a["invoice_id"]: a for a in page["items"]}
            ended = len(items) == 2 and all(a["status"] in ("succeeded", "skipped") for a in items.values())
            return items if ended else None
        attempts = await eventually(settled, timeout=60, interval=0.3)

        skipped, charged = attempts["autotask:601"], attempts["autotask:602"]
        assert (skipped["status"], skipped["skip_reason"], skipped["accounting_balance"], skipped["payment_id"]) == \
            ("skipped", "paid_elsewhere", "0.00", None)
        assert (charged["status"], charged["amount"], charged["accounting_balance"]) == ("succeeded", "150.00", "150.00")
        async with sims.http.get(f"{gateway_url}/_sim/transactions") as response:
            sales = [t for t in await response.json() if t["type"] == "sale"]
        assert [(s["order_id"], s["amount"]) for s in sales] == [(charged["payment_id"], "150.00")]

        async def known_paid():  # the fresh snapshot sync published with its answer
            invoice = (await payable(sims.http, payments))["autotask:601"]
            return invoice if invoice["status"] == "paid" else None
        invoice = await eventually(known_paid, timeout=30)
        assert (invoice["balance"], invoice["payable"]) == ("0.00", False)
        search = await payments_call(sims.http, payments, "GET", f"/v1/payments?organization_id={ORG}",
                                     token=MANAGER)
        assert [p["payment_id"] for p in search["items"]] == [charged["payment_id"]]
