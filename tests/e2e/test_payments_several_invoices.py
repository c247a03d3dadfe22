"""`POST /v1/payments` with `invoices` through the running service: one sale for several invoices, its
replay under the same key, a void of one of them, and the request form's refusals in our words."""
from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.e2e.conftest import MANAGER
from tests.support import eventually

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(180)]


async def pay_several(world, lines: list[dict[str, Any]], key: str | None = None,  # type: ignore[no-untyped-def]
                      **extra: Any):
    body = {"invoices": lines, "payment_method": {"token": "tok_visa_approved"},
            "contact_id": await world.payer("autotask:678"), **extra}
    return await world.call("POST", "/v1/payments", MANAGER, body, {"Idempotency-Key": key or str(uuid.uuid4())})


async def test_three_invoices_in_one_sale_then_a_void_of_one_unapplies_only_its_share(world):
    a, b, c = await world.invoice("100.00"), await world.invoice("200.00"), await world.invoice("50.00")
    key = str(uuid.uuid4())
    lines = [{"invoice_id": a}, {"invoice_id": b, "amount": "120.00"}, {"invoice_id": c}]
    paid = await pay_several(world, lines, key)
    assert paid.status == 201, paid
    assert paid.body["status"] == "succeeded" and paid.body["sale_amount"] == "270.00"
    assert paid.body["applications"] == [{"invoice_id": a, "amount": "100.00"},
                                         {"invoice_id": b, "amount": "120.00"}, {"invoice_id": c, "amount": "50.00"}]
    [sale] = await world.sales_of(paid.body["payment_id"])
    assert sale["amount"] == "270.00" and sale["transaction_id"] == paid.body["transaction_id"]
    assert [(await world.invoice_view(i))["balance"] for i in (a, b, c)] == ["0.00", "80.00", "0.00"]

    replay = await pay_several(world, lines, key)  # the same key and body: the same answer, no second sale
    assert (replay.status, replay.body) == (201, paid.body)
    other = await pay_several(world, lines[:2], key)
    assert (other.status, other.body["error"]["code"]) == (422, "idempotency_key_reused")
    assert len(await world.sales_of(paid.body["payment_id"])) == 1

    await world.void(b)

    async def unapplied():
        payment = await world.payment(paid.body["payment_id"])
        return payment if payment["unapplied_amount"] == "120.00" else None

    payment = await eventually(unapplied, timeout=30)
    assert payment["applications"] == [{"invoice_id": a, "amount": "100.00"}, {"invoice_id": c, "amount": "50.00"}]
    assert (payment["status"], payment["applied_amount"]) == ("succeeded", "150.00")
    assert [(await world.invoice_view(i))["balance"] for i in (a, c)] == ["0.00", "0.00"]


async def test_one_unpayable_invoice_refuses_the_whole_payment_naming_it(world):
    a, b = await world.invoice("40.00"), await world.invoice("60.00", number=None)
    refused = await pay_several(world, [{"invoice_id": a}, {"invoice_id": b}])
    assert (refused.status, refused.body["error"]["code"]) == (409, "invoice_not_payable")
    assert refused.body["error"]["details"]["invoice_id"] == b
    too_much = await pay_several(world, [{"invoice_id": a, "amount": "40.01"}])
    assert (too_much.status, too_much.body["error"]["code"]) == (422, "amount_exceeds_balance")
    assert too_much.body["error"]["details"]["invoice_id"] == a
    assert (await world.invoice_view(a))["balance"] == "40.00"


@pytest.mark.parametrize("body, field", [
    ({"invoice_id": "autotask:1", "invoices": [{"invoice_id": "autotask:2"}]}, "body"),
    ({}, "body"),
    ({"invoices": []}, "invoices"),
    ({"invoices": [{"invoice_id": "autotask:1"}, {"invoice_id": "autotask:1"}]}, "invoices"),
    ({"invoices": [{"invoice_id": "autotask:1"}], "amount": "1.00"}, "body"),
    ({"invoices": [{"invoice_id": f"autotask:{n}"} for n in range(51)]}, "invoices"),
    ({"invoices": [{"invoice_id": "autotask:1", "amount": 1.5}]}, "invoices.0.amount"),
])
async def test_the_request_names_one_invoice_or_a_list_of_distinct_ones(world, body, field):
    reply = await world.call("POST", "/v1/payments", MANAGER,
                             {**body, "payment_method": {"token": "tok_visa_approved"}, "contact_id": "autotask:1"},
                             {"Idempotency-Key": str(uuid.uuid4())})
    assert (reply.status, reply.body["error"]["code"]) == (422, "invalid_request")
    assert field in reply.body["error"]["details"]["fields"], reply.body
