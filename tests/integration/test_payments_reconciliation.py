"""Three-way reconciliation, payments' side, on the real database against the gateway simulator: each
gateway drift class injected through the simulator is found exactly (and nothing when nothing drifted);
sync's books part completes the run and the completion is announced once; repairs never move money and
refuse what they cannot clear safely; a sale the ledger holds pending is recorded by the repair."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import aiohttp
import pytest

from billing_payments.adapters import payment_store, settings_store
from billing_payments.adapters import reconciliation_store as store
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.payment import Allocation, Method, Payment
from billing_payments.domain.settings import ProcessingSettings
from billing_payments.service import reconciliation
from billing_payments.service.deps import Deps
from billing_payments.service.paying import pay
from billing_shared.events.reconciliation import BooksChecked, BooksCheckedData, DriftData, Evidence
from tests.integration.test_payments_paying import (  # noqa: F401 (the fixtures)
    ORG,
    Gateway,
    an_invoice,
    command,
    deps,
    gateway,
)

pytestmark = pytest.mark.timeout(90)


async def today_run(deps: Deps) -> uuid.UUID:
    now = datetime.now(UTC)
    start, end = reconciliation.day_bounds(now, now)
    run_id = await reconciliation.start_run(deps, trigger="on_demand", start=start, end=end, requested_by="test")
    assert run_id is not None
    assert await reconciliation.check_gateway_once(deps)
    return run_id


async def drifts(deps: Deps, run_id: uuid.UUID, part: str = "gateway") -> list[tuple]:
    return sorted((d["code"], d["payment_id"], d["transaction_id"])
                  for d in await store.drifts(deps.pool, run_id) if d["part"] == part)


async def outbox(deps: Deps, event_type: str) -> list[dict]:
    rows = await deps.pool.fetch("SELECT payload FROM outbox ORDER BY id")
    return [p for p in (json.loads(r["payload"]) for r in rows) if p["event_type"] == event_type]


async def sim(gw: Gateway, path: str, body: dict | None = None) -> dict:
    async with aiohttp.ClientSession() as http, http.post(gw.sim_url + path, json=body or {}) as reply:
        assert reply.status in (200, 201), await reply.text()
        return await reply.json()


async def paid(deps: Deps, amount: str = "40.00") -> dict:
    result = await pay(deps, command(await an_invoice(deps), amount=amount))
    assert result.status == 201 and result.body["status"] == "succeeded", result.body
    return result.body


async def test_a_ledger_that_agrees_with_the_gateway_has_no_drift_and_the_request_goes_to_sync(deps, gateway):
    await paid(deps)
    run_id = await today_run(deps)
    assert await drifts(deps, run_id) == []
    run = await store.run(deps.pool, run_id)
    assert (run["gateway_state"], run["books_state"], run["status"]) == ("checked", "pending", "running")
    assert json.loads(run["gateway_checked"]) == {"payments": 1, "gateway_transactions": 1}
    [requested] = await outbox(deps, "reconciliation.requested")
    assert requested["data"]["run_id"] == str(run_id)


async def test_each_gateway_drift_class_is_found_exactly(deps, gateway):
    await paid(deps)  # agrees: no drift
    voided = await paid(deps)
    refunded = await paid(deps, "30.00")
    elsewhere = await sim(gateway, "/_sim/transactions", {"amount": "12.34", "order_id": "terminal-7"})
    await sim(gateway, f"/_sim/transactions/{voided['transaction_id']}/void")
    async with aiohttp.ClientSession() as http:  # a refund made in the gateway's own interface
        async with http.post(gateway.sim_url + "/api/transact.php", data={
                "security_key": "sim-private-key", "type": "refund", "transactionid": refunded["transaction_id"],
                "amount": "5.00"}) as reply:
            assert "response=1" in await reply.text()

    run_id = await today_run(deps)
    assert await drifts(deps, run_id) == sorted([
        ("gateway_sale_unknown_to_ledger", "terminal-7", elsewhere["transaction_id"]),
        ("ledger_sale_not_at_gateway", voided["payment_id"], voided["transaction_id"]),
        ("gateway_amount_differs", refunded["payment_id"], refunded["transaction_id"]),
    ])
    differs = next(d for d in await store.drifts(deps.pool, run_id) if d["code"] == "gateway_amount_differs")
    assert differs["amount"] == Decimal("5.00")
    assert json.loads(differs["evidence"])["ledger"] == "refunds none"


async def test_the_books_part_completes_the_run_once_and_a_second_answer_changes_nothing(deps, gateway):
    run_id = await today_run(deps)
    answer = BooksChecked.new(producer="sync", organization_id="system", data=BooksCheckedData(
        run_id=str(run_id), checked_at=datetime.now(UTC), payments_checked=3, invoices_checked=2, drifts=[
            DriftData(code="accounting_payment_missing", payment_id="p-1", invoice_id="autotask:1", organization_id=ORG,
                      summary="no accounting payment", evidence=Evidence(ledger="applied 40.00", accounting="none")),
        ]))
    for _ in range(2):
        async with deps.uow.begin() as tx:
            await reconciliation.on_books_checked(tx, answer)
    run = await store.run(deps.pool, run_id)
    assert (run["status"], run["books_state"], run["drift_count"]) == ("completed", "checked", 1)
    [completed] = await outbox(deps, "reconciliation.completed")
    assert completed["data"]["by_code"] == {"accounting_payment_missing": 1}
    assert completed["data"]["drift_count"] == 1 and completed["data"]["incomplete"] == []


async def test_books_that_sync_never_answers_complete_the_run_as_incomplete(deps, gateway):
    deps.config.reconciliation_books_wait_seconds = 0
    run_id = await today_run(deps)
    await reconciliation.expire_books_waits(deps)
    run = await store.run(deps.pool, run_id)
    assert run["status"] == "completed" and run["books_state"] == "failed"
    assert "did not answer" in run["books_failure"]
    [completed] = await outbox(deps, "reconciliation.completed")
    assert completed["data"]["incomplete"] == ["books"]


async def test_an_unreadable_gateway_is_a_failed_part_not_a_clean_report(deps, gateway):
    gateway.sim_url, stopped = "", gateway.url
    deps.config.gateway_base_url = "http://127.0.0.1:9"  # nothing listens
    now = datetime.now(UTC)
    run_id = await reconciliation.start_run(deps, trigger="on_demand", start=now - timedelta(hours=1), end=now,
                                            requested_by="test")
    assert await reconciliation.check_gateway_once(deps)
    run = await store.run(deps.pool, run_id)
    assert run["gateway_state"] == "failed" and "gateway could not be read" in run["gateway_failure"], dict(run)
    deps.config.gateway_base_url = stopped


async def test_no_nightly_run_before_payment_processing_has_gateway_keys(deps, gateway):
    """A fresh installation reconciles nothing each night (and raises no nightly 'not checked' ticket)
    until it has a gateway to reconcile; found by the tracer test, whose first notification became it."""
    deps.config.reconciliation_nightly_hour_utc = 0
    async with deps.pool.acquire() as conn:
        await settings_store.save(conn, ProcessingSettings(), deps.box)
    deps.forget_settings()
    assert await reconciliation.schedule_nightly(deps, datetime.now(UTC)) is None
    assert await store.runs(deps.pool, 10) == []


async def test_the_nightly_run_exists_once_however_many_replicas_schedule_it(deps, gateway):
    deps.config.reconciliation_nightly_hour_utc = 0
    now = datetime.now(UTC)
    first = await reconciliation.schedule_nightly(deps, now)
    again = await reconciliation.schedule_nightly(deps, now)
    assert first is not None and again is None
    run = await store.run(deps.pool, first)
    assert run["period_end"] - run["period_start"] == timedelta(days=1)
    assert run["period_end"].date() == now.date()


async def test_repairs_resend_books_drifts_refuse_what_they_cannot_clear_and_explaining_closes_a_drift(deps, gateway):
    voided = await paid(deps)
    await sim(gateway, f"/_sim/transactions/{voided['transaction_id']}/void")
    run_id = await today_run(deps)
    async with deps.uow.begin() as tx:
        await reconciliation.on_books_checked(tx, BooksChecked.new(
            producer="sync", organization_id="system", data=BooksCheckedData(
                run_id=str(run_id), checked_at=datetime.now(UTC), payments_checked=1, invoices_checked=1,
                drifts=[DriftData(code="accounting_amount_differs", payment_id=voided["payment_id"],
                                  invoice_id=voided["applications"][0]["invoice_id"], summary="lines differ")])))
    by_code = {d["code"]: d["drift_id"] for d in await store.drifts(deps.pool, run_id)}

    resent = await reconciliation.repair(deps, by_code["accounting_amount_differs"], "admin")
    assert resent["state"] == "repair_requested"
    [asked] = await outbox(deps, "writeback.resend_requested")
    assert asked["data"]["payment_id"] == voided["payment_id"]

    with pytest.raises(PaymentError) as refused:
        await reconciliation.repair(deps, by_code["ledger_sale_not_at_gateway"], "admin")
    assert refused.value.code == "drift_not_repairable" and refused.value.status == 409
    explained = await reconciliation.explain(deps, by_code["ledger_sale_not_at_gateway"], "voided by the bank", "admin")
    assert (explained["state"], explained["note"]) == ("explained", "voided by the bank")
    with pytest.raises(PaymentError) as again:
        await reconciliation.explain(deps, by_code["ledger_sale_not_at_gateway"], "twice", "admin")
    assert again.value.code == "drift_resolved"
    assert (await payment_store.load(deps.pool, voided["payment_id"])).status == "succeeded"  # no money moved


async def test_a_sale_the_gateway_made_for_a_payment_the_ledger_holds_pending_is_recorded_by_the_repair(deps, gateway):
    invoice_id = await an_invoice(deps, "60.00")
    pending = Payment(payment_id=str(uuid.uuid4()), invoice_id=invoice_id, organization_id=ORG, contact_id=None,
                      environment="autotask", method=Method("credit_card", "visa", "1111"), currency="USD",
                      original_amount=Decimal("60.00"), created_at=datetime.now(UTC) - timedelta(minutes=5),
                      allocations=(Allocation(invoice_id, Decimal("60.00")),))
    async with deps.pool.acquire() as conn:
        await payment_store.insert(conn, pending, vault_id=None, method_id=None)
    sale = await sim(gateway, "/_sim/transactions", {"amount": "60.00", "order_id": pending.payment_id})

    run_id = await today_run(deps)
    [drift] = await store.drifts(deps.pool, run_id)
    assert (drift["code"], drift["payment_id"], drift["transaction_id"]) == \
        ("gateway_sale_unknown_to_ledger", pending.payment_id, sale["transaction_id"])
    repaired = await reconciliation.repair(deps, drift["drift_id"], "admin")
    assert repaired["state"] == "repaired"
    recorded = await payment_store.load(deps.pool, pending.payment_id)
    assert (recorded.status, recorded.transaction_id) == ("succeeded", sale["transaction_id"])
    assert recorded.applications() == {invoice_id: Decimal("60.00")}
    assert gateway.sale_count() == 1  # recorded, never charged again
    assert await drifts(deps, await today_run(deps)) == []
