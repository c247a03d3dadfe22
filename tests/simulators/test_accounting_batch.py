"""The accounting simulator's batch endpoint (QuickBooks' `POST /v3/company/{realm}/batch`): items in order,
each on its own, `requestid` as on single writes, and the batch limits (30 items, 40 batches a minute)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.simulators.test_accounting_simulator import Sim, sim  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(15)


def payment(b_id: str, customer_id: str, total: str, *applied: tuple[str, str]) -> dict[str, Any]:
    lines = [{"Amount": a, "LinkedTxn": [{"TxnId": i, "TxnType": "Invoice"}]} for i, a in applied]
    return {"bId": b_id, "operation": "create",
            "Payment": {"CustomerRef": {"value": customer_id}, "TotalAmt": total, "Line": lines}}


async def test_items_run_in_order_each_on_its_own(sim: Sim) -> None:
    customer = await sim.customer()
    invoice = await sim.invoice(customer["Id"], "500.00")
    items = [
        payment("p1", customer["Id"], "200.00", (invoice["Id"], "200.00")),
        payment("p2", customer["Id"], "400.00", (invoice["Id"], "400.00")),  # 300 left: refused, alone
        payment("p3", customer["Id"], "300.00", (invoice["Id"], "300.00")),
        {"bId": "q", "Query": f"select * from Invoice where Id in ('{invoice['Id']}')"},
    ]

    answer = await sim.ok("POST", "batch", {"BatchItemRequest": items})

    p1, p2, p3, query = answer["BatchItemResponse"]
    assert [r["bId"] for r in (p1, p2, p3, query)] == ["p1", "p2", "p3", "q"]
    assert p1["Payment"]["TotalAmt"] == 200 and p3["Payment"]["TotalAmt"] == 300
    assert "Payment" not in p2 and p2["Fault"]["Error"][0]["code"] == "6000"
    assert query["QueryResponse"]["Invoice"][0]["Balance"] == 0  # after the creates before it
    assert len((await sim.query("select * from Payment")).body["QueryResponse"]["Payment"]) == 2
    seen = await sim.control("GET", "/_sim/requests")
    assert seen["counts"]["batch"] == {"POST": 1}


async def test_the_same_requestid_gets_the_first_answer_and_writes_nothing_again(sim: Sim) -> None:
    customer = await sim.customer()
    items = [payment("p1", customer["Id"], "10.00"), payment("p2", customer["Id"], "20.00")]

    first = await sim.ok("POST", "batch", {"BatchItemRequest": items}, requestid="batch-1")
    again = await sim.ok("POST", "batch", {"BatchItemRequest": items[:1]}, requestid="batch-1")
    other = await sim.ok("POST", "batch", {"BatchItemRequest": items[:1]}, requestid="batch-2")

    assert again["BatchItemResponse"] == first["BatchItemResponse"]
    assert [r["bId"] for r in again["BatchItemResponse"]] == ["p1", "p2"]
    assert other["BatchItemResponse"][0]["Payment"]["Id"] not in {r["Payment"]["Id"] for r in first["BatchItemResponse"]}
    assert len((await sim.query("select * from Payment")).body["QueryResponse"]["Payment"]) == 3


async def test_more_than_30_items_is_a_fault_and_nothing_runs(sim: Sim) -> None:
    customer = await sim.customer()
    items = [payment(f"p{n}", customer["Id"], "1.00") for n in range(31)]

    answer = await sim.api("POST", "batch", {"BatchItemRequest": items})

    assert answer.status == 400 and answer.fault["code"] == "2010" and "30" in answer.fault["Detail"]
    assert (await sim.query("select * from Payment")).body["QueryResponse"] == {}
    assert (await sim.ok("POST", "batch", {"BatchItemRequest": items[:30]}))["BatchItemResponse"][29]["bId"] == "p29"


async def test_batches_have_their_own_per_minute_limit_and_count_as_one_request(sim: Sim) -> None:
    assert (await sim.control("GET", "/_sim/config"))["rate_limit_batch_per_minute"] == 40
    await sim.control("PUT", "/_sim/config", {"rate_limit_batch_per_minute": 2, "rate_limit_per_second": 100})
    customer = await sim.customer()
    items = [payment(f"p{n}", customer["Id"], "1.00") for n in range(30)]

    statuses = [(await sim.api("POST", "batch", {"BatchItemRequest": items})).status for _ in range(3)]
    single = await sim.api("GET", f"customer/{customer['Id']}")  # single calls are not batches

    assert statuses == [200, 200, 429] and single.status == 200
    seen = await sim.control("GET", "/_sim/requests")
    assert seen["counts"]["batch"] == {"POST": 2} and seen["throttled"] == 1
    api_calls = sum(sum(m.values()) for entity, m in seen["counts"].items() if entity != "oauth")
    assert api_calls == 4  # customer create, two batches of 30, one read: a batch is one request


async def test_an_injected_fault_hits_one_item_or_fails_the_whole_batch_when_it_is_an_outage(sim: Sim) -> None:
    customer = await sim.customer()
    items = [payment("p1", customer["Id"], "10.00"), payment("p2", customer["Id"], "20.00")]
    await sim.control("POST", "/_sim/faults", {"path_contains": "batch/payment#p2", "status": 400, "code": "6000"})

    answer = await sim.ok("POST", "batch", {"BatchItemRequest": items}, requestid="b-1")

    assert "Payment" in answer["BatchItemResponse"][0]
    assert answer["BatchItemResponse"][1]["Fault"]["Error"][0]["code"] == "6000"
    await sim.control("POST", "/_sim/faults", {"path_contains": "/payment", "method": "POST", "status": 503})
    outage = await sim.api("POST", "batch", {"BatchItemRequest": items}, requestid="b-2")
    assert outage.status == 503
    assert len((await sim.query("select * from Payment")).body["QueryResponse"]["Payment"]) == 1
    retried = await sim.ok("POST", "batch", {"BatchItemRequest": items}, requestid="b-2")  # a 503 is not an answer
    assert all("Payment" in r for r in retried["BatchItemResponse"])
