"""Cancels against the gateway simulator (void of an unsettled sale, refund or a note for a settled one, an
intent that survives a failed commit), gateway webhooks matched by transaction id (a refund's settlement
failure), webhooks of unknown types, and an invoice total lowered below the money applied to it."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from pydantic import SecretStr

from billing_payments.adapters import invoice_store, payment_store, settings_store
from billing_payments.adapters.gateway import NmiGateway
from billing_payments.config import PaymentsSettings
from billing_payments.domain import ledger
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.payment import Method, Payment
from billing_payments.domain.settings import ProcessingSettings
from billing_payments.service import actions, webhooks
from billing_payments.service.deps import Deps
from billing_payments.service.gateway_refunds import issue_pending_refunds
from billing_payments.service.invoice_projection import on_invoice_snapshots
from billing_payments.service.ledger_writes import commit_outcome
from billing_payments.service.reconciler import reconcile_once
from billing_shared.db import create_pool
from billing_shared.events.invoices import InvoiceSnapshot, InvoiceSynced
from billing_shared.kafka.topics import TopicNames
from billing_shared.migrations import migrate
from billing_shared.money import money
from billing_shared.outbox import UnitOfWork
from billing_shared.secrets import SecretBox, new_key
from billing_simulators.gateway import GatewaySimConfig, create_app
from devstack.ports import free_port

pytestmark = pytest.mark.timeout(90)
SIGNING_KEY = "it-signing-key"
GRACE = 0.5


@pytest.fixture
async def deps(database_url):
    # webhooks of /_sim/settle go nowhere: these tests post the ones they need themselves
    runner = web.AppRunner(create_app(GatewaySimConfig(webhook_url="http://127.0.0.1:9/nowhere",
                                                       webhook_timeout_seconds=0.2)))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    pool = await create_pool(database_url, "payments")
    await migrate(pool, "payments", "billing_payments")
    box = SecretBox(new_key())
    await settings_store.save(pool, ProcessingSettings(private_key="sim-private-key"), box)
    async with aiohttp.ClientSession() as http:
        config = PaymentsSettings(gateway_base_url=f"http://127.0.0.1:{port}", gateway_timeout_seconds=2,
                                  pending_grace_seconds=GRACE, gateway_webhook_signing_key=SecretStr(SIGNING_KEY))
        yield Deps(pool=pool, uow=UnitOfWork(pool, TopicNames("t.")), box=box, http=http, config=config)
    await pool.close()
    await runner.cleanup()


async def set_refund_via_gateway(deps: Deps, on: bool) -> None:
    await settings_store.save(deps.pool, ProcessingSettings(private_key="sim-private-key", refund_via_gateway=on),
                              deps.box)
    deps.forget_settings()


def invoice(invoice_id: str, total: str, version: int = 1) -> InvoiceSynced:
    return InvoiceSynced.new(producer="test", organization_id="autotask:678", data=InvoiceSnapshot(
        invoice_id=invoice_id, organization_id="autotask:678", invoice_number="1042", status="open", currency="USD",
        total=money(total), issued_on=date(2026, 11, 1), due_on=None, paid_on=None, pdf_url=None,
        source_version=version))


async def paid(deps: Deps, total: str = "120.00") -> Payment:
    """An invoice of `total`, paid in full by a real sale at the simulator (unsettled: `pendingsettlement`)."""
    invoice_id = f"autotask:{uuid.uuid4().hex[:8]}"
    async with deps.uow.begin() as tx:
        await on_invoice_snapshots(tx, [invoice(invoice_id, total)])
    payment = Payment(payment_id=str(uuid.uuid4()), invoice_id=invoice_id, organization_id="autotask:678",
                      contact_id=None, environment="autotask", method=Method("credit_card", "visa", "1111"),
                      currency="USD", original_amount=Decimal(total), created_at=datetime.now(UTC))
    gateway = NmiGateway(deps.http, deps.config.gateway_base_url, "sim-private-key")
    sale = await gateway.sale(payment.order_id, payment.original_amount, "USD", payment_token="tok_visa_approved")
    async with deps.uow.begin() as tx:
        await payment_store.insert(tx.conn, payment, vault_id=None, method_id=None)
        return (await commit_outcome(tx, payment, ledger.approve(payment, sale.transaction_id or "",
                                                                 datetime.now(UTC)))).payment


async def sim(deps: Deps, method: str, path: str, body=None):  # type: ignore[no-untyped-def]
    async with deps.http.request(method, f"{deps.config.gateway_base_url}{path}", json=body) as response:
        return await response.json()


async def sim_transaction(deps: Deps, transaction_id: str) -> dict:
    [found] = [t for t in await sim(deps, "GET", "/_sim/transactions") if t["transaction_id"] == transaction_id]
    return found


async def published(deps: Deps, event_type: str) -> list[dict]:
    rows = await deps.pool.fetch("SELECT payload FROM outbox ORDER BY id")
    return [e for e in (json.loads(r["payload"]) for r in rows) if e["event_type"] == event_type]


# -- cancel --------------------------------------------------------------------------------------------------


async def test_a_cancel_voids_the_unsettled_sale_so_settling_charges_nothing(deps):
    payment = await paid(deps)  # refund_via_gateway is off
    cancelled = (await actions.cancel(deps, payment.payment_id)).payment
    assert (cancelled.status, cancelled.gateway_reversal, cancelled.sale_amount) == ("cancelled", "voided", 0)
    assert (await sim_transaction(deps, payment.transaction_id or ""))["condition"] == "canceled"
    settled = await sim(deps, "POST", "/_sim/settle", {"transaction_ids": [payment.transaction_id]})
    assert settled["settled"] == 0
    sale = await NmiGateway(deps.http, deps.config.gateway_base_url, "sim-private-key").get_transaction(
        payment.transaction_id or "")
    assert sale is not None and sale.condition == "canceled"
    assert [a.action_type for a in sale.actions] == ["sale", "void"]  # never settled
    assert (await invoice_store.get(deps.pool, payment.invoice_id)).balance == Decimal("120.00")  # type: ignore[union-attr]
    [event] = await published(deps, "payment.cancelled")
    assert event["data"]["gateway_reversal"] == "voided"


async def test_a_cancel_of_a_settled_sale_with_refunds_via_gateway_off_says_no_money_moved(deps):
    payment = await paid(deps, "80.00")
    await sim(deps, "POST", "/_sim/settle", {"transaction_ids": [payment.transaction_id]})
    cancelled = (await actions.cancel(deps, payment.payment_id)).payment
    assert (cancelled.status, cancelled.gateway_reversal) == ("cancelled", "none")
    assert "no money moved at the gateway" in (cancelled.failure_reason or "")
    stored = await payment_store.load(deps.pool, payment.payment_id)
    assert stored is not None and stored.snapshot().gateway_reversal == "none"
    assert "no money moved" in (stored.failure_reason or "")
    transactions = await sim(deps, "GET", "/_sim/transactions")
    assert [t["type"] for t in transactions if t["order_id"] == payment.order_id] == ["sale"]


async def test_a_cancel_of_a_settled_sale_with_refunds_via_gateway_on_refunds_it(deps):
    await set_refund_via_gateway(deps, True)
    payment = await paid(deps, "65.00")
    await sim(deps, "POST", "/_sim/settle", {"transaction_ids": [payment.transaction_id]})
    cancelled = (await actions.cancel(deps, payment.payment_id)).payment
    assert (cancelled.status, cancelled.gateway_reversal) == ("cancelled", "refunded")
    refunds = [t for t in await sim(deps, "GET", "/_sim/transactions")
               if t["order_id"] == payment.order_id and t["type"] == "refund"]
    assert [t["amount"] for t in refunds] == ["65.00"]


async def test_a_void_whose_commit_failed_is_recorded_first_and_finished_by_the_reconciler(deps):
    payment = await paid(deps, "150.00")
    # the commit of the cancel fails after the gateway voided the sale (a real failure in the database)
    await deps.pool.execute("""
        CREATE FUNCTION refuse_cancel() RETURNS trigger LANGUAGE plpgsql AS
        $$ BEGIN RAISE EXCEPTION 'commit failed'; END $$;
        CREATE TRIGGER refuse_cancel BEFORE UPDATE ON payments FOR EACH ROW
            WHEN (NEW.status = 'cancelled') EXECUTE FUNCTION refuse_cancel();""")
    with pytest.raises(asyncpg.RaiseError):
        await actions.cancel(deps, payment.payment_id)
    assert (await sim_transaction(deps, payment.transaction_id or ""))["condition"] == "canceled"
    stored = await payment_store.load(deps.pool, payment.payment_id)
    assert stored is not None and (stored.status, stored.gateway_reversal) == ("succeeded", "pending")
    with pytest.raises(PaymentError) as refused:  # the lease is held: no second void meanwhile
        await actions.cancel(deps, payment.payment_id)
    assert refused.value.code == "payment_in_progress"
    with pytest.raises(PaymentError) as refused:  # nor an apply or refund while it is on its way back
        await actions.refund(deps, payment.payment_id, None)
    await deps.pool.execute("DROP TRIGGER refuse_cancel ON payments")
    await asyncio.sleep(GRACE + 0.2)
    await reconcile_once(deps)
    done = await payment_store.load(deps.pool, payment.payment_id)
    assert done is not None and (done.status, done.gateway_reversal, done.sale_amount) == ("cancelled", "voided", 0)
    assert (await invoice_store.get(deps.pool, payment.invoice_id)).balance == Decimal("150.00")  # type: ignore[union-attr]
    assert [e["data"]["payment_id"] for e in await published(deps, "payment.cancelled")] == [payment.payment_id]
    with pytest.raises(PaymentError) as late:  # a cancelled payment stays cancelled
        await actions.cancel(deps, payment.payment_id)
    assert late.value.code == "payment_state_conflict"


async def test_a_void_whose_answer_was_lost_stays_recorded_and_is_finished_from_the_gateways_record(deps):
    payment = await paid(deps, "95.00")
    sim_url = deps.config.gateway_base_url

    async def forward(request: web.Request) -> web.StreamResponse:
        """The network between us and the gateway: a void arrives, its answer does not."""
        form = await request.post()
        async with deps.http.post(sim_url + request.path, data=dict(form)) as answer:
            text = await answer.text()
        if form.get("type") == "void":
            assert request.transport is not None
            request.transport.close()
        return web.Response(text=text)

    app = web.Application()
    app.router.add_post("/{tail:.*}", forward)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    deps.config = deps.config.model_copy(update={"gateway_base_url": f"http://127.0.0.1:{port}"})
    try:
        unknown = (await actions.cancel(deps, payment.payment_id)).payment
    finally:
        deps.config = deps.config.model_copy(update={"gateway_base_url": sim_url})
        await runner.cleanup()
    assert (unknown.status, unknown.gateway_reversal) == ("succeeded", "pending")  # the API answers 202
    assert (await sim_transaction(deps, payment.transaction_id or ""))["condition"] == "canceled"
    await reconcile_once(deps)  # the lease was given back with the unknown answer: no grace to wait
    done = await payment_store.load(deps.pool, payment.payment_id)
    assert done is not None and (done.status, done.gateway_reversal) == ("cancelled", "voided")
    sale = await NmiGateway(deps.http, sim_url, "sim-private-key").get_transaction(payment.transaction_id or "")
    assert sale is not None and [a.action_type for a in sale.actions] == ["sale", "void"]  # voided once


# -- webhooks ------------------------------------------------------------------------------------------------


def signed(body: dict | bytes) -> tuple[bytes, str]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    nonce = uuid.uuid4().hex
    return raw, f"t={nonce},s={hmac.new(SIGNING_KEY.encode(), nonce.encode() + b'.' + raw, hashlib.sha256).hexdigest()}"


def settlement_failure(transaction_id: str, order_id: str, amount: str, action_type: str = "settle") -> dict:
    return {"event_id": str(uuid.uuid4()), "event_type": "settlement.batch.failure",
            "event_body": {"transaction_id": transaction_id, "order_id": order_id, "transaction_type": "cc",
                           "condition": "failed", "requested_amount": amount,
                           "action": {"action_type": action_type, "amount": amount, "success": "0",
                                      "response_text": "Account closed"}}}


async def refunded_at_gateway(deps: Deps) -> tuple[Payment, str]:
    """A paid invoice voided (its money unapplied), then 30.00 of it refunded through the gateway."""
    await set_refund_via_gateway(deps, True)
    payment = await paid(deps, "100.00")
    async with deps.uow.begin() as tx:
        unapplied = (await commit_outcome(tx, payment, ledger.unapply_voided_invoice(payment, payment.invoice_id))
                     ).payment
    refunded = (await actions.refund(deps, unapplied.payment_id, Decimal("30.00"))).payment
    await issue_pending_refunds(deps, refunded.payment_id)
    stored = await payment_store.load(deps.pool, payment.payment_id)
    assert stored is not None
    [row] = [t for t in stored.transactions if t.type == "refund"]
    assert row.transaction_id
    return stored, row.transaction_id


async def test_a_refunds_settlement_failure_takes_the_refund_back_and_leaves_the_sale(deps):
    payment, refund_id = await refunded_at_gateway(deps)
    raw, signature = signed(settlement_failure(refund_id, payment.order_id, "30.00"))
    assert await webhooks.receive(deps, raw, signature) == "payment.refund_failed"
    after = await payment_store.load(deps.pool, payment.payment_id)
    assert after is not None and after.status == "succeeded" and after.transaction_id == payment.transaction_id
    assert (after.sale_amount, after.applied_amount, after.unapplied_amount, after.refund_amount) == \
        (Decimal("100.00"), 0, Decimal("100.00"), 0)
    assert after.sale_amount == after.applied_amount + after.unapplied_amount + after.refund_amount
    [row] = [t for t in after.snapshot().transactions if t.type == "refund"]
    assert row.transaction_id == refund_id and "Account closed" in (row.failure_reason or "")
    [event] = await published(deps, "payment.refund_failed")
    assert event["data"]["unapplied_amount"] == "100.00"
    raw, signature = signed(settlement_failure(refund_id, payment.order_id, "30.00"))
    assert (await webhooks.receive(deps, raw, signature)).startswith("ignored")  # told twice, taken back once


async def test_a_webhook_for_a_transaction_the_payment_does_not_have_changes_nothing(deps):
    payment = await paid(deps, "40.00")
    for body in (settlement_failure("999999999", payment.order_id, "40.00"),
                 settlement_failure(payment.transaction_id or "", payment.order_id, "40.00", action_type="refund")):
        raw, signature = signed(body)
        assert (await webhooks.receive(deps, raw, signature)).startswith("ignored")
    after = await payment_store.load(deps.pool, payment.payment_id)
    assert after is not None and after.status == "succeeded"
    assert (await invoice_store.get(deps.pool, payment.invoice_id)).status == "paid"  # type: ignore[union-attr]


async def test_unknown_event_types_are_recorded_whatever_their_body(deps):
    raw, signature = signed({"event_type": "acu.summary.contactcustomer", "event_body": {}})
    assert (await webhooks.receive(deps, raw, signature)).startswith("ignored")
    raw2, signature2 = signed({"event_id": "e-acu-1", "event_type": "recurring.plan.add",
                               "event_body": {"plan": {"id": 5}, "order_id": 7}})
    assert (await webhooks.receive(deps, raw2, signature2)).startswith("ignored")
    rows = await deps.pool.fetch("SELECT event_type FROM webhook_events ORDER BY received_at")
    assert [r["event_type"] for r in rows] == ["acu.summary.contactcustomer", "recurring.plan.add"]


async def test_a_malformed_money_event_is_refused_in_our_words_naming_the_fields(deps):
    body = settlement_failure("1", "x", "10.00")
    del body["event_body"]["transaction_id"]
    body["event_body"]["requested_amount"] = "ten dollars"
    raw, signature = signed(body)
    with pytest.raises(PaymentError) as refused:
        await webhooks.receive(deps, raw, signature)
    error = refused.value
    assert error.code == "invalid_request" and error.status == 422
    assert set(error.details["fields"]) == {"event_body.transaction_id", "event_body.requested_amount"}
    text = error.message + json.dumps(error.details)
    assert "pydantic" not in text and "input_value" not in text
    assert await deps.pool.fetchval("SELECT count(*) FROM webhook_events") == 0  # a corrected retry still counts


# -- invoice totals ------------------------------------------------------------------------------------------


async def test_a_total_lowered_below_the_applied_money_is_not_payable_and_tells_staff(deps):
    payment = await paid(deps, "500.00")
    async with deps.uow.begin() as tx:
        await on_invoice_snapshots(tx, [invoice(payment.invoice_id, "400.00", version=2)])
    view = await invoice_store.get(deps.pool, payment.invoice_id)
    assert view is not None
    assert (view.total, view.applied, view.balance, view.status, view.payable) == \
        (Decimal("400.00"), Decimal("500.00"), 0, "paid", False)
    [alert] = await published(deps, "invoice.over_applied")
    assert (alert["data"]["invoice_id"], alert["data"]["total"], alert["data"]["over_by"]) == \
        (payment.invoice_id, "400.00", "100.00")
    listed = await invoice_store.list_invoices(deps.pool, organization_id=None, status="open", after="", limit=100)
    assert payment.invoice_id not in [i.invoice_id for i in listed]
    with pytest.raises(asyncpg.CheckViolationError):  # the database holds 0 <= applied <= total too
        await deps.pool.execute("UPDATE invoices SET applied = total + 1 WHERE invoice_id = $1", payment.invoice_id)
    # the money taken off again (a cancel), the invoice is open at its new total
    async with deps.uow.begin() as tx:
        locked = await payment_store.load(tx.conn, payment.payment_id, for_update=True)
        await commit_outcome(tx, locked, ledger.cancel(locked))  # type: ignore[arg-type]
    view = await invoice_store.get(deps.pool, payment.invoice_id)
    assert view is not None and (view.balance, view.status, view.payable) == (Decimal("400.00"), "open", True)
