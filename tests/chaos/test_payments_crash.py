"""Payments dies between the gateway's approval and its own commit; after a restart the reconciler finds
the sale by order id, and nothing is charged twice."""
from __future__ import annotations

import uuid

import aiohttp
import pytest

from tests.e2e.payments_support import new_world
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)


async def test_a_crash_after_the_gateway_approved_ends_in_one_sale_and_a_paid_invoice(infra, tmp_path):
    world = await new_world(infra, tmp_path, TEST_CRASH_AFTER_SALE="true")
    try:
        await world.configure()
        invoice_id = await world.invoice("640.00")
        key = str(uuid.uuid4())
        with pytest.raises(aiohttp.ClientError):  # the process is gone before it answers
            await world.pay(invoice_id, key=key)
        crashed = world.processes["payments"].process
        assert crashed.wait(10) == 137
        [sale] = [t for t in await world.sim("GET", "/_sim/transactions") if t["type"] == "sale"]
        assert sale["condition"] == "pendingsettlement"  # the gateway took the money

        port = world.urls["payments"].rsplit(":", 1)[1]
        await world.start_service("payments", "billing_payments", port=int(port))  # without the crash hook

        async def resolved():
            p = await world.payment(sale["order_id"])
            return p if p["status"] != "pending" else None

        payment = await eventually(resolved, timeout=30)
        assert (payment["status"], payment["transaction_id"], payment["sale_amount"]) == \
            ("succeeded", sale["transaction_id"], "640.00")
        view = await world.invoice_view(invoice_id)
        assert (view["status"], view["balance"]) == ("paid", "0.00")
        replay = await world.pay(invoice_id, key=key)  # the client's retry gets the outcome, not a charge
        assert replay.status == 201 and replay.body["payment_id"] == sale["order_id"]
        assert len([t for t in await world.sim("GET", "/_sim/transactions") if t["type"] == "sale"]) == 1
        events = await world.payment_events(sale["order_id"], 1)
        assert [e["event_type"] for e in events] == ["payment.succeeded"]
    finally:
        await world.stop()
