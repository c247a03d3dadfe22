"""Payments dies at the moment of an autopay charge (between the gateway's approval and its own commit); after a
restart, with two replicas competing to lead the scheduler, the same attempt finds the same payment: one sale
at the gateway, one payment, the attempt succeeded."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import MANAGER
from tests.e2e.payments_support import new_world
from tests.e2e.test_payments_autopay import AUTOPAY_ENV, due_invoice, settled, stored_method
from tests.support import eventually

pytestmark = [pytest.mark.asyncio(loop_scope="function"), pytest.mark.timeout(150)]


async def _ended(process) -> bool:
    return process.poll() is not None


async def test_a_replica_killed_mid_charge_and_restarted_makes_one_sale(infra, tmp_path):
    world = await new_world(infra, tmp_path, TEST_CRASH_AFTER_SALE="true", **AUTOPAY_ENV)
    try:
        await world.configure()
        org = "autotask:7901"
        invoice_id = await due_invoice(world, "7901", "615.00")
        method_id = await stored_method(world, org)
        reply = await world.call("PUT", f"/v1/organizations/{org}/autopay", MANAGER, {
            "method_id": method_id, "rule": {"kind": "on_due_date"}, "max_amount": "1000.00"})
        assert reply.status == 200, reply

        crashed = world.processes["payments"].process  # the gateway simulator runs on this loop: never block it
        await eventually(lambda: _ended(crashed), timeout=30, interval=0.2)
        assert crashed.returncode == 137  # the scheduler's charge was approved; the process died before recording
        [sale] = [t for t in await world.sim("GET", "/_sim/transactions") if t["type"] == "sale"]

        port = int(world.urls["payments"].rsplit(":", 1)[1])
        await world.start_service("payments", "billing_payments", port=port, **AUTOPAY_ENV)  # no crash hook
        await world.start_service("payments-2", "billing_payments", **AUTOPAY_ENV)  # a second replica

        [attempt] = await settled(world, org)
        assert (attempt["status"], attempt["payment_id"], attempt["amount"]) == \
            ("succeeded", sale["order_id"], "615.00")
        payment = await world.payment(sale["order_id"])
        assert (payment["status"], payment["transaction_id"], payment["sale_amount"]) == \
            ("succeeded", sale["transaction_id"], "615.00")
        assert len([t for t in await world.sim("GET", "/_sim/transactions") if t["type"] == "sale"]) == 1
        search = await world.call("GET", f"/v1/payments?organization_id={org}")
        assert [p["payment_id"] for p in search.body["items"]] == [sale["order_id"]]
        view = await world.invoice_view(invoice_id)
        assert (view["status"], view["balance"]) == ("paid", "0.00")

        async def succeeded_once():
            from tests.e2e.test_payments_autopay import _of_type
            return await _of_type(world, org, "autopay.succeeded")
        assert len(await eventually(succeeded_once, timeout=20)) == 1
    finally:
        await world.stop()
