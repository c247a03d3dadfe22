"""What one payment costs the database, counted on the wire: the statements the service sends and the
transactions that write (each a durable commit: fsync). A stored-method payment that the gateway approves
costs two writing transactions (the pending row, durable before the gateway is called, then its outcome)
and no more statements than the budget below; a claim that is not new (a replay) writes nothing."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import aiohttp
import asyncpg
import pytest
from pydantic import SecretStr

from billing_payments.adapters import directory_store, payment_store, settings_store, wallet_store
from billing_payments.adapters.wallet_store import WalletMethod
from billing_payments.config import PaymentsSettings
from billing_payments.service.deps import Deps
from billing_payments.service.paying import PayCommand, PayResult, pay
from billing_payments.service import webhooks
from billing_payments.service.resolving import SaleOutcome, resolve_pending
from billing_shared.db import create_pool
from billing_shared.events.directory import ContactData
from billing_shared.kafka.topics import TopicNames
from billing_shared.migrations import migrate
from billing_shared.outbox import UnitOfWork
from billing_shared.secrets import SecretBox, new_key

from tests.integration.test_payments_paying import ORG, PAYER, SETTINGS, an_invoice
from tests.integration.test_payments_paying import gateway as gateway  # noqa: F401 - the fixture

pytestmark = pytest.mark.timeout(60)


class Wire:
    """Every statement our pool sends, in order (asyncpg's query logger, on each connection)."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.on = False

    def __call__(self, record: asyncpg.connection.LoggedQuery) -> None:
        query = " ".join(record.query.split())
        # asyncpg's type introspection runs once per connection and type, not per payment
        if self.on and "typeinfo_tree" not in query and "'jit'" not in query:
            self.statements.append(query)

    def writing_transactions(self) -> int:
        """Transactions that wrote: an explicit one (BEGIN..COMMIT) with a write in it, or a lone write."""
        count, in_tx, wrote = 0, False, False
        for s in self.statements:
            head = s.split(None, 1)[0].upper().rstrip(";")
            if head == "BEGIN":
                in_tx, wrote = True, False
            elif head == "COMMIT":
                count += wrote
                in_tx = False
            elif head == "ROLLBACK":
                in_tx = False
            elif _writes(s):
                if in_tx:
                    wrote = True
                else:
                    count += 1
        return count


def _writes(statement: str) -> bool:
    s = statement.upper()
    return any(w in s for w in ("INSERT ", "UPDATE ", "DELETE ")) or " FOR UPDATE" in s


@pytest.fixture
async def wire() -> Wire:
    return Wire()


@pytest.fixture
async def deps(database_url, gateway, wire) -> AsyncIterator[Deps]:  # noqa: F811
    pool = await create_pool(database_url, "payments")
    await migrate(pool, "payments", "billing_payments")
    await pool.close()
    pool = await create_pool(database_url, "payments", on_connect=lambda conn: conn.add_query_logger(wire))
    box = SecretBox(new_key())
    await settings_store.save(pool, SETTINGS, box)
    async with aiohttp.ClientSession() as http:
        config = PaymentsSettings(gateway_base_url=gateway.url, gateway_timeout_seconds=2)
        uow = UnitOfWork(pool, TopicNames("t."))
        async with uow.begin() as tx:
            await directory_store.upsert_contacts(tx.conn, [ContactData(contact_id=PAYER, organization_id=ORG,
                                                                        name="Pat Payer")])
        yield Deps(pool=pool, uow=uow, box=box, http=http, config=config)
    await pool.close()


async def a_stored_method(deps: Deps) -> str:
    entry = await deps.gateway(SETTINGS).add_to_vault("tok_visa_approved")
    method = WalletMethod(str(uuid.uuid4()), ORG, PAYER, entry.vault_id, entry.method_type, entry.brand,
                          entry.last4, entry.exp_month, entry.exp_year)
    await wallet_store.add(deps.pool, method)  # type: ignore[arg-type]
    return method.method_id


def stored(invoice_id: str, method_id: str, key: str) -> PayCommand:
    return PayCommand(invoice_id=invoice_id, amount=Decimal("100.00"), contact_id=PAYER, method_id=method_id,
                      token=None, save_to_wallet=False, environment="autotask", caller_organization_id=None,
                      idempotency_scope="manager:*:*", idempotency_key=key, request_hash=f"{invoice_id}|{method_id}")


async def test_an_approved_stored_method_payment_costs_two_durable_commits_and_few_statements(deps, wire):
    method_id = await a_stored_method(deps)
    await deps.settings()  # read once: cached between payments, as in the running service
    await pay(deps, stored(await an_invoice(deps), method_id, str(uuid.uuid4())))  # warm: statements prepared
    invoice_id = await an_invoice(deps)
    cmd = stored(invoice_id, method_id, str(uuid.uuid4()))
    wire.on = True
    paid = await pay(deps, cmd)
    wire.on = False
    assert (paid.status, paid.body["status"]) == (201, "succeeded")
    # what matters is still there: the payment applied, the invoice paid and free, the key answered
    invoice = await deps.pool.fetchrow("SELECT applied, in_flight_payment_id FROM invoices WHERE invoice_id = $1",
                                       invoice_id)
    assert (invoice["applied"], invoice["in_flight_payment_id"]) == (Decimal("100.00"), None)
    key = await deps.pool.fetchrow("SELECT payment_id, response_status FROM idempotency_keys WHERE key = $1",
                                   cmd.idempotency_key)
    assert (str(key["payment_id"]), key["response_status"]) == (paid.body["payment_id"], 201)
    assert await deps.pool.fetchval("SELECT count(*) FROM outbox") >= 1
    assert wire.writing_transactions() == 2
    assert len(wire.statements) <= 11, wire.statements  # 21 before the claim joined the pending row

    wire.statements.clear()
    wire.on = True
    assert await pay(deps, cmd) == PayResult(201, paid.body)  # a replay: read, answered, nothing written
    wire.on = False
    assert wire.writing_transactions() <= 1 and len(wire.statements) <= 2, wire.statements


async def test_a_payment_locked_after_waiting_is_read_as_the_writer_left_it(deps, gateway):  # noqa: F811
    """The lock and the read are one statement now: a read that waited for another transaction's lock must
    still see that transaction's entries and rows, not the snapshot taken before the wait."""
    gateway.sales = "lose"  # the sale's outcome unknown: the payment stays pending
    method_id = await a_stored_method(deps)
    invoice_id = await an_invoice(deps)
    pending = await pay(deps, stored(invoice_id, method_id, str(uuid.uuid4())))
    payment_id = pending.body["payment_id"]
    assert pending.body["status"] == "pending"
    async with deps.uow.begin() as writer:
        await payment_store.load(writer.conn, payment_id, for_update=True)
        async with deps.pool.acquire() as conn, conn.transaction():
            waiting = asyncio.create_task(payment_store.load(conn, payment_id, for_update=True))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # it waits for the writer's lock
            await resolve_pending(writer, payment_id, SaleOutcome(True, "txn-1"))
            await writer.flush()
            await writer.conn.execute("COMMIT; BEGIN")  # the writer commits while the reader waits
            seen = await asyncio.wait_for(waiting, 5)
    assert seen is not None
    assert (seen.status, seen.transaction_id) == ("succeeded", "txn-1")
    assert [(e.invoice_id, e.amount) for e in seen.entries] == [(invoice_id, Decimal("100.00"))]
    assert [t.type for t in seen.transactions] == ["sale"]


def signed(body: dict, key: str = "round-trips-key") -> tuple[bytes, str]:
    raw = json.dumps(body).encode()
    nonce = uuid.uuid4().hex
    return raw, f"t={nonce},s={hmac.new(key.encode(), nonce.encode() + b'.' + raw, hashlib.sha256).hexdigest()}"


async def test_a_delivery_that_can_name_no_payment_is_recorded_in_one_statement(deps, wire):
    """An event that changes no money, or one about an order that is no payment id of ours, is recorded
    with one statement (no transaction, no lock); its repeat is a duplicate; a money event about one of our
    payments still goes through the payment's lock."""
    hooked = replace(deps, config=deps.config.model_copy(
        update={"gateway_webhook_signing_key": SecretStr("round-trips-key")}))
    other = {"event_id": str(uuid.uuid4()), "event_type": "transaction.auth.success", "event_body": {}}
    foreign = {"event_id": str(uuid.uuid4()), "event_type": "transaction.sale.success",
               "event_body": {"transaction_id": "1", "order_id": "virtual-terminal-7"}}
    for body, outcome in ((other, "ignored: not an event that changes money"),
                          (foreign, "ignored: no payment has this order id")):
        wire.statements.clear()
        wire.on = True
        assert await webhooks.receive(hooked, *signed(body)) == outcome
        wire.on = False
        assert len(wire.statements) == 1 and wire.writing_transactions() == 1, wire.statements
        assert await webhooks.receive(hooked, *signed(body)) == "duplicate"
    recorded = await deps.pool.fetch("SELECT event_id, outcome FROM webhook_events ORDER BY received_at")
    assert [(r["event_id"], r["outcome"]) for r in recorded] == [
        (other["event_id"], "ignored: not an event that changes money"),
        (foreign["event_id"], "ignored: no payment has this order id")]

    ours = {"event_id": str(uuid.uuid4()), "event_type": "transaction.sale.success",
            "event_body": {"transaction_id": "1", "order_id": str(uuid.uuid4())}}
    wire.statements.clear()
    wire.on = True
    assert await webhooks.receive(hooked, *signed(ours)) == "ignored: no payment has this order id"
    wire.on = False
    assert "FOR UPDATE" in " ".join(wire.statements)  # could have been ours: looked at under the lock
