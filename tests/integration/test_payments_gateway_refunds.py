"""Refunds sent to the gateway: however many senders race for a pending refund row (the request and
the reconcilers of several replicas), the gateway refunds it once."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web

from billing_payments.adapters import payment_store, settings_store
from billing_payments.adapters.gateway import NmiGateway
from billing_payments.config import PaymentsSettings
from billing_payments.domain import ledger
from billing_payments.domain.payment import Method, Payment
from billing_payments.domain.settings import ProcessingSettings
from billing_payments.service.deps import Deps
from billing_payments.service.gateway_refunds import issue_pending_refunds
from billing_payments.service.ledger_writes import commit_outcome
from billing_shared.db import create_pool
from billing_shared.kafka.topics import TopicNames
from billing_shared.migrations import migrate
from billing_shared.outbox import UnitOfWork
from billing_shared.secrets import SecretBox, new_key
from billing_simulators.gateway import GatewaySimConfig, create_app
from devstack.ports import free_port

pytestmark = pytest.mark.timeout(60)
NOW = datetime.now(UTC)


@pytest.fixture
async def deps(database_url):
    runner = web.AppRunner(create_app(GatewaySimConfig()))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    pool = await create_pool(database_url, "payments")
    await migrate(pool, "payments", "billing_payments")
    box = SecretBox(new_key())
    await settings_store.save(pool, ProcessingSettings(private_key="sim-private-key", refund_via_gateway=True), box)
    async with aiohttp.ClientSession() as http:
        config = PaymentsSettings(gateway_base_url=f"http://127.0.0.1:{port}", gateway_timeout_seconds=2)
        yield Deps(pool=pool, uow=UnitOfWork(pool, TopicNames("t.")), box=box, http=http, config=config)
    await pool.close()
    await runner.cleanup()


async def refunded_payment(deps: Deps, amount: str) -> Payment:
    """A real sale at the gateway, voided invoice, then a refund recorded `pending` for the gateway."""
    payment = Payment(payment_id="7b0e3f5e-1111-4c8f-9a7e-0c2b5a9d1e01", invoice_id="autotask:1",
                      organization_id="autotask:678", contact_id=None, environment="autotask",
                      method=Method("credit_card", "visa", "1111"), currency="USD",
                      original_amount=Decimal(amount), created_at=NOW)
    gateway = NmiGateway(deps.http, deps.config.gateway_base_url, "sim-private-key")
    sale = await gateway.sale(payment.order_id, payment.original_amount, "USD", payment_token="tok_visa_approved")
    async with deps.uow.begin() as tx:
        await payment_store.insert(tx.conn, payment, vault_id=None, method_id=None)
        paid = (await commit_outcome(tx, payment, ledger.approve(payment, sale.transaction_id or "", NOW))).payment
        unapplied = (await commit_outcome(tx, paid, ledger.unapply_voided_invoice(paid, "autotask:1"))).payment
        refund = ledger.refund(unapplied, NOW)
        return (await commit_outcome(tx, unapplied, refund, refund_via_gateway=True)).payment


async def test_concurrent_senders_refund_once(deps):
    payment = await refunded_payment(deps, "75.00")
    # old enough that the reconcilers of three replicas find it due too, while three requests send it
    await deps.pool.execute("UPDATE payment_transactions SET at = at - interval '1 hour' WHERE seq = 1")
    sent = await asyncio.gather(*(issue_pending_refunds(deps, payment.payment_id) for _ in range(3)),
                                *(issue_pending_refunds(deps, retry_after=60) for _ in range(3)))
    assert sum(sent) == 1
    transactions = await (await deps.http.get(f"{deps.config.gateway_base_url}/_sim/transactions")).json()
    refunds = [t for t in transactions if t["type"] == "refund"]
    assert [(t["order_id"], t["amount"]) for t in refunds] == [(payment.payment_id, "75.00")]
    row = await deps.pool.fetchrow("SELECT gateway_status, transaction_id FROM payment_transactions WHERE seq = 1")
    assert (row["gateway_status"], row["transaction_id"]) == ("issued", refunds[0]["transaction_id"])
    assert await issue_pending_refunds(deps, retry_after=0) == 0  # nothing left to send


async def test_a_retry_after_an_unanswered_attempt_adopts_the_refund_the_gateway_made(deps):
    payment = await refunded_payment(deps, "40.00")
    sale_id = payment.transaction_id
    gateway = NmiGateway(deps.http, deps.config.gateway_base_url, "sim-private-key")
    made = await gateway.refund(sale_id or "", Decimal("40.00"))  # it reached the gateway; the reply was lost
    await deps.pool.execute("UPDATE payment_transactions SET gateway_attempted_at = now() - interval '1 hour' "
                            "WHERE seq = 1")
    assert await issue_pending_refunds(deps, retry_after=60) == 0  # adopted, not sent again
    transactions = await (await deps.http.get(f"{deps.config.gateway_base_url}/_sim/transactions")).json()
    assert len([t for t in transactions if t["type"] == "refund"]) == 1
    row = await deps.pool.fetchrow("SELECT gateway_status, transaction_id FROM payment_transactions WHERE seq = 1")
    assert (row["gateway_status"], row["transaction_id"]) == ("issued", made.transaction_id)
