"""The DOMAIN.md worked example and its alternatives, end to end: upstream invoices through sync, payments
through the HTTP API and the gateway simulator, snapshots on billing.payments.v1."""
from __future__ import annotations

import pytest

from tests.support import eventually

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

AMOUNTS = ("sale_amount", "applied_amount", "unapplied_amount", "refund_amount")


def amounts(payment: dict) -> tuple[str, ...]:
    return tuple(payment[a] for a in AMOUNTS)


async def test_pay_void_then_apply_to_a_smaller_invoice_refunds_the_difference(world):
    a = await world.invoice("500.00")
    b = await world.invoice("300.00")

    paid = await world.pay(a)
    assert paid.status == 201, paid
    p1 = paid.body
    assert (p1["status"], amounts(p1)) == ("succeeded", ("500.00", "500.00", "0.00", "0.00"))
    assert p1["applications"] == [{"invoice_id": a, "amount": "500.00"}]
    assert p1["order_id"] == p1["payment_id"] and p1["transaction_id"]
    assert p1["method"] == {"type": "credit_card", "brand": "visa", "last4": "1111"}
    invoice_a = await world.invoice_view(a)
    assert (invoice_a["status"], invoice_a["balance"], invoice_a["payable"]) == ("paid", "0.00", False)
    assert invoice_a["paid_on"] is not None

    await world.void(a)

    async def unapplied():
        p = await world.payment(p1["payment_id"])
        return p if p["unapplied_amount"] == "500.00" else None

    p = await eventually(unapplied, timeout=30)
    assert amounts(p) == ("500.00", "0.00", "500.00", "0.00") and p["applications"] == []

    applied = await world.call("POST", f"/v1/payments/{p1['payment_id']}/apply", body={"invoice_id": b})
    assert applied.status == 200, applied
    p = applied.body
    assert amounts(p) == ("500.00", "300.00", "0.00", "200.00")
    assert [(t["type"], t["amount"]) for t in p["transactions"]] == [("sale", "500.00"), ("refund", "200.00")]
    assert p["applications"] == [{"invoice_id": b, "amount": "300.00"}]
    invoice_b = await world.invoice_view(b)
    assert (invoice_b["status"], invoice_b["balance"]) == ("paid", "0.00")

    events = await world.payment_events(p1["payment_id"], 3)
    assert [e["event_type"] for e in events] == ["payment.succeeded", "payment.unapplied", "payment.applied"]
    assert [amounts(e["data"]) for e in events] == [
        ("500.00", "500.00", "0.00", "0.00"), ("500.00", "0.00", "500.00", "0.00"), ("500.00", "300.00", "0.00", "200.00")]
    assert all(e["organization_id"] == "autotask:678" and e["producer"] == "payments" for e in events)
    assert len(await world.sales_of(p1["payment_id"])) == 1


async def test_a_voided_payment_can_be_refunded_in_full(world):
    a = await world.invoice("500.00")
    p1 = (await world.pay(a)).body
    await world.void(a)
    await eventually(lambda: _unapplied(world, p1["payment_id"], "500.00"), timeout=30)
    refunded = await world.call("POST", f"/v1/payments/{p1['payment_id']}/refund", body={})
    assert refunded.status == 200, refunded
    assert amounts(refunded.body) == ("500.00", "0.00", "0.00", "500.00")
    assert [t["type"] for t in refunded.body["transactions"]] == ["sale", "refund"]
    again = await world.call("POST", f"/v1/payments/{p1['payment_id']}/refund", body={})
    assert (again.status, again.body["error"]["code"]) == (409, "nothing_unapplied")


async def test_cancel_after_paying_shows_zeros_and_reopens_the_invoice(world):
    a = await world.invoice("500.00")
    p1 = (await world.pay(a)).body
    cancelled = await world.call("POST", f"/v1/payments/{p1['payment_id']}/cancel")
    assert cancelled.status == 200, cancelled
    c = cancelled.body
    assert (c["status"], amounts(c)) == ("cancelled", ("0.00", "0.00", "0.00", "0.00"))
    assert (c["transaction_id"], c["original_amount"]) == (p1["transaction_id"], "500.00")
    invoice_a = await world.invoice_view(a)
    assert (invoice_a["status"], invoice_a["balance"], invoice_a["paid_on"], invoice_a["payable"]) == \
        ("open", "500.00", None, True)
    again = await world.call("POST", f"/v1/payments/{p1['payment_id']}/cancel")
    assert (again.status, again.body["error"]["code"]) == (409, "payment_state_conflict")
    events = await world.payment_events(p1["payment_id"], 2)
    assert [e["event_type"] for e in events] == ["payment.succeeded", "payment.cancelled"]


async def test_partial_payments_until_paid_then_already_paid(world):
    c = await world.invoice("1000.00")
    first = await world.pay(c, amount="400.00")
    assert first.status == 201 and amounts(first.body) == ("400.00", "400.00", "0.00", "0.00")
    view = await world.invoice_view(c)
    assert (view["status"], view["balance"], view["paid_on"]) == ("open", "600.00", None)
    too_much = await world.pay(c, amount="600.01")
    assert (too_much.status, too_much.body["error"]["code"]) == (422, "amount_exceeds_balance")
    second = await world.pay(c, amount="600.00")
    assert second.status == 201
    view = await world.invoice_view(c)
    assert (view["status"], view["balance"]) == ("paid", "0.00") and view["paid_on"]
    third = await world.pay(c)
    assert (third.status, third.body["error"]["code"]) == (409, "invoice_already_paid")


async def test_apply_can_keep_the_remainder_unapplied(world):
    a = await world.invoice("500.00")
    b = await world.invoice("120.00")
    p1 = (await world.pay(a)).body
    await world.void(a)
    await eventually(lambda: _unapplied(world, p1["payment_id"], "500.00"), timeout=30)
    kept = await world.call("POST", f"/v1/payments/{p1['payment_id']}/apply",
                            body={"invoice_id": b, "keep_remainder": True})
    assert kept.status == 200 and amounts(kept.body) == ("500.00", "120.00", "380.00", "0.00")
    bigger = await world.invoice("400.00")
    refused = await world.call("POST", f"/v1/payments/{p1['payment_id']}/apply", body={"invoice_id": bigger})
    assert (refused.status, refused.body["error"]["code"]) == (422, "target_balance_exceeds_unapplied")
    partly = await world.call("POST", f"/v1/payments/{p1['payment_id']}/refund", body={"amount": "80.00"})
    assert partly.status == 200 and amounts(partly.body) == ("500.00", "120.00", "300.00", "80.00")


async def test_a_declined_card_records_a_failed_payment_and_leaves_the_invoice_open(world):
    a = await world.invoice("75.00")
    declined = await world.pay(a, "tok_visa_declined")
    assert (declined.status, declined.body["error"]["code"]) == (402, "card_declined")
    payment = declined.body["error"]["details"]["payment"]
    assert payment["status"] == "failed" and payment["failure_reason"]
    assert amounts(payment) == ("0.00", "0.00", "0.00", "0.00")
    view = await world.invoice_view(a)
    assert (view["balance"], view["payable"]) == ("75.00", True)
    assert (await world.pay(a)).status == 201  # not locked by the failed one


async def _unapplied(world, payment_id: str, amount: str):
    p = await world.payment(payment_id)
    return p if p["unapplied_amount"] == amount else None
