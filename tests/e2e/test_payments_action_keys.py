"""Apply, refund and cancel with an Idempotency-Key: a retry of the same request answers what the first
answered and moves no money again; the key with another request is refused (issue 12, item 5)."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support import eventually

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


async def unapplied_payment(world, total: str) -> dict:
    """A payment whose invoice was voided: all its money is unapplied."""
    invoice = await world.invoice(total)
    paid = (await world.pay(invoice)).body
    await world.void(invoice)

    async def all_unapplied():
        p = await world.payment(paid["payment_id"])
        return p if p["unapplied_amount"] == total else None
    return await eventually(all_unapplied, timeout=30)


def refunds(payment: dict) -> list[str]:
    return [t["amount"] for t in payment["transactions"] if t["type"] == "refund"]


async def test_a_refund_retried_with_its_key_refunds_once_and_the_key_with_another_amount_is_refused(world):
    p = await unapplied_payment(world, "400.00")
    path, key = f"/v1/payments/{p['payment_id']}/refund", str(uuid.uuid4())
    first = await world.call("POST", path, body={"amount": "150.00"}, headers={"Idempotency-Key": key})
    assert first.status == 200, first
    retry = await world.call("POST", path, body={"amount": "150.00"}, headers={"Idempotency-Key": key})
    assert (retry.status, retry.body) == (200, first.body)
    assert refunds(await world.payment(p["payment_id"])) == ["150.00"]
    other = await world.call("POST", path, body={"amount": "20.00"}, headers={"Idempotency-Key": key})
    assert (other.status, other.body["error"]["code"]) == (422, "idempotency_key_reused")
    fresh = await world.call("POST", path, body={"amount": "150.00"}, headers={"Idempotency-Key": str(uuid.uuid4())})
    assert fresh.status == 200 and refunds(fresh.body) == ["150.00", "150.00"]  # a new key is a new refund


async def test_concurrent_retries_of_one_refund_refund_once(world):
    p = await unapplied_payment(world, "90.00")
    path, key = f"/v1/payments/{p['payment_id']}/refund", str(uuid.uuid4())
    answers = await asyncio.gather(*(world.call("POST", path, body={}, headers={"Idempotency-Key": key})
                                     for _ in range(5)))
    assert {a.status for a in answers} == {200} and all(a.body == answers[0].body for a in answers)
    stored = await world.payment(p["payment_id"])
    assert (refunds(stored), stored["unapplied_amount"]) == (["90.00"], "0.00")


async def test_an_apply_retried_with_its_key_applies_once(world):
    p = await unapplied_payment(world, "300.00")
    target = await world.invoice("100.00")
    path, key = f"/v1/payments/{p['payment_id']}/apply", str(uuid.uuid4())
    body = {"invoice_id": target, "keep_remainder": True}
    first = await world.call("POST", path, body=body, headers={"Idempotency-Key": key})
    assert first.status == 200, first
    assert (first.body["applied_amount"], first.body["unapplied_amount"]) == ("100.00", "200.00")
    retry = await world.call("POST", path, body=body, headers={"Idempotency-Key": key})
    assert (retry.status, retry.body) == (200, first.body)
    stored = await world.payment(p["payment_id"])
    assert (stored["applied_amount"], stored["unapplied_amount"]) == ("100.00", "200.00")
    assert (await world.invoice_view(target))["balance"] == "0.00"


async def test_a_cancel_retried_with_its_key_gets_the_cancel_again_not_a_conflict(world):
    invoice = await world.invoice("75.00")
    paid = (await world.pay(invoice)).body
    path, key = f"/v1/payments/{paid['payment_id']}/cancel", str(uuid.uuid4())
    first = await world.call("POST", path, headers={"Idempotency-Key": key})
    assert (first.status, first.body["status"]) == (200, "cancelled"), first
    retry = await world.call("POST", path, headers={"Idempotency-Key": key})
    assert (retry.status, retry.body) == (200, first.body)
    unkeyed = await world.call("POST", path)  # without the key a second cancel is refused as before
    assert unkeyed.status == 409, unkeyed
    [sale] = await world.sales_of(paid["payment_id"])
    assert sale["condition"] == "canceled"
    elsewhere = await world.call("POST", f"/v1/payments/{paid['payment_id']}/refund", body={},
                                 headers={"Idempotency-Key": key})
    assert (elsewhere.status, elsewhere.body["error"]["code"]) == (422, "idempotency_key_reused")


async def test_an_empty_idempotency_key_is_refused(world):
    p = await unapplied_payment(world, "10.00")
    refused = await world.call("POST", f"/v1/payments/{p['payment_id']}/refund", body={},
                               headers={"Idempotency-Key": " "})
    assert (refused.status, refused.body["error"]["code"]) == (422, "invalid_request")
    assert (await world.payment(p["payment_id"]))["unapplied_amount"] == "10.00"
