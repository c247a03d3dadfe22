"""Exactly-once charging through the HTTP API against the gateway simulator: idempotency keys, one payment
in flight per invoice, and unknown outcomes resolved by asking the gateway."""
from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from decimal import Decimal

import pytest

from tests.support import eventually

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


async def test_the_same_key_and_body_replays_the_first_response(world):
    a = await world.invoice("210.00")
    key = str(uuid.uuid4())
    first = await world.pay(a, key=key)
    again = await world.pay(a, key=key)
    assert first.status == again.status == 201 and first.body == again.body
    other_body = await world.pay(a, key=key, amount="1.00")
    assert (other_body.status, other_body.body["error"]["code"]) == (422, "idempotency_key_reused")
    assert len(await world.sales_of(first.body["payment_id"])) == 1


async def test_twenty_concurrent_identical_requests_make_one_gateway_transaction(world):
    a = await world.invoice("320.00")
    key = str(uuid.uuid4())
    replies = await asyncio.gather(*(world.pay(a, key=key) for _ in range(20)))
    statuses = Counter(r.status for r in replies)
    assert set(statuses) <= {201, 409}, statuses
    created = [r.body for r in replies if r.status == 201]
    assert created and all(body == created[0] for body in created)
    assert all(r.body["error"]["code"] == "payment_in_progress" for r in replies if r.status == 409)
    sales = [t for t in await world.sim("GET", "/_sim/transactions") if t["type"] == "sale"
             and Decimal(t["amount"]) == Decimal("320.00") and t["order_id"] == created[0]["payment_id"]]
    assert len(sales) == 1
    replay = await world.pay(a, key=key)
    assert (replay.status, replay.body) == (201, created[0])


async def test_twenty_concurrent_payments_with_different_keys_charge_an_invoice_once(world):
    a = await world.invoice("440.00")
    replies = await asyncio.gather(*(world.pay(a) for _ in range(20)))
    winners = [r.body for r in replies if r.status == 201]
    assert len(winners) == 1, Counter(r.status for r in replies)
    codes = Counter(r.body["error"]["code"] for r in replies if r.status != 201)
    assert set(codes) <= {"payment_in_progress", "invoice_already_paid"}, codes
    transactions = await world.sim("GET", "/_sim/transactions")
    payment_ids = {r.body["payment_id"] for r in replies if r.status == 201}
    charged = [t for t in transactions if t["type"] == "sale" and t["order_id"] in payment_ids]
    assert sum(Decimal(t["amount"]) for t in charged) == Decimal("440.00") and len(charged) == 1
    view = await world.invoice_view(a)
    assert (view["status"], view["balance"]) == ("paid", "0.00")


async def test_no_reply_leaves_the_payment_pending_and_the_reconciler_resolves_it(world):
    a = await world.invoice("99.00")
    key = str(uuid.uuid4())
    pending = await world.pay(a, "tok_visa_timeout", key=key)
    assert pending.status == 201 and pending.body["status"] == "pending", pending
    payment_id = pending.body["payment_id"]
    locked = await world.pay(a)
    assert (locked.status, locked.body["error"]["code"]) == (409, "payment_in_progress")
    in_progress = await world.pay(a, "tok_visa_timeout", key=key)
    assert (in_progress.status, in_progress.body["error"]["code"]) == (409, "payment_in_progress")

    async def resolved():
        p = await world.payment(payment_id)
        return p if p["status"] != "pending" else None

    p = await eventually(resolved, timeout=30)
    assert (p["status"], p["sale_amount"], p["applied_amount"]) == ("succeeded", "99.00", "99.00")
    assert len(await world.sales_of(payment_id)) == 1
    view = await world.invoice_view(a)
    assert (view["status"], view["balance"]) == ("paid", "0.00")
    replay = await world.pay(a, "tok_visa_timeout", key=key)
    assert replay.status == 201 and replay.body["status"] == "succeeded"
    events = await world.payment_events(payment_id, 1)
    assert [e["event_type"] for e in events] == ["payment.succeeded"]
