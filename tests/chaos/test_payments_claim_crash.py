"""Payments dies right after claiming an Idempotency-Key, before it records a payment. The key is only
leased: after the lease, a retry with the same key takes it over and pays, with exactly one sale."""
from __future__ import annotations

import uuid

import aiohttp
import pytest

from tests.e2e.payments_support import new_world
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)
LEASE = "2"


async def test_a_crash_after_the_claim_does_not_wedge_the_key(infra, tmp_path):
    world = await new_world(infra, tmp_path, TEST_CRASH_AFTER_CLAIM="true", IDEMPOTENCY_CLAIM_LEASE_SECONDS=LEASE)
    try:
        await world.configure()
        invoice_id = await world.invoice("320.00")
        key = str(uuid.uuid4())
        with pytest.raises(aiohttp.ClientError):  # the process is gone before it answers
            await world.pay(invoice_id, key=key)
        assert world.processes["payments"].process.wait(10) == 137
        assert [t for t in await world.sim("GET", "/_sim/transactions") if t["type"] == "sale"] == []

        port = int(world.urls["payments"].rsplit(":", 1)[1])
        await world.start_service("payments", "billing_payments", port=port,  # without the crash hook
                                  IDEMPOTENCY_CLAIM_LEASE_SECONDS=LEASE)
        answers: list[tuple[int, str | None]] = []

        async def retried():
            reply = await world.pay(invoice_id, key=key)
            answers.append((reply.status, (reply.body.get("error") or {}).get("code")))
            return reply if reply.status == 201 else None

        paid = await eventually(retried, timeout=30, interval=0.5)
        # until the lease runs out the key is still in progress (no payment yet); then the retry pays
        assert set(answers[:-1]) <= {(409, "payment_in_progress")}
        assert (paid.body["status"], paid.body["sale_amount"]) == ("succeeded", "320.00")
        [sale] = [t for t in await world.sim("GET", "/_sim/transactions") if t["type"] == "sale"]
        assert (sale["order_id"], sale["transaction_id"]) == (paid.body["payment_id"], paid.body["transaction_id"])
        assert (await world.pay(invoice_id, key=key)).body == paid.body  # replayed, not charged again
        assert len([t for t in await world.sim("GET", "/_sim/transactions") if t["type"] == "sale"]) == 1
        view = await world.invoice_view(invoice_id)
        assert (view["status"], view["balance"]) == ("paid", "0.00")
    finally:
        await world.stop()
