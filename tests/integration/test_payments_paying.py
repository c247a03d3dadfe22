"""The pay path in one process, on the real database, against the gateway simulator behind a proxy that
can lose or refuse sales: a refused payment leaves the wallet alone, the payer is a known active contact
of the invoice's organization, a claimed key whose holder died is taken over after its lease, and a sale
the gateway never had is never reported as a decline."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import aiohttp
import pytest
from aiohttp import web

from billing_payments.adapters import directory_store, idempotency_store, invoice_store, settings_store
from billing_payments.config import PaymentsSettings
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.settings import ProcessingSettings
from billing_payments.service.deps import Deps
from billing_payments.service.paying import PayCommand, PayResult, pay
from billing_payments.service.reconciler import reconcile_once
from billing_shared.db import create_pool
from billing_shared.events.directory import ContactData
from billing_shared.events.invoices import InvoiceSnapshot
from billing_shared.kafka.topics import TopicNames
from billing_shared.migrations import migrate
from billing_shared.money import money
from billing_shared.outbox import UnitOfWork
from billing_shared.secrets import SecretBox, new_key
from billing_simulators.gateway import GatewaySimConfig, create_app
from billing_simulators.gateway.state import STATE_KEY
from devstack.ports import free_port

pytestmark = pytest.mark.timeout(60)
ORG, PAYER = "autotask:678", "autotask:901"
SETTINGS = ProcessingSettings(active=True, currency="USD", accept_payments_in=("autotask", "client_portal"),
                              payment_types={"autotask": ("credit_card",), "client_portal": ("credit_card",)},
                              public_key="sim-public-key", private_key="sim-private-key")


@dataclass
class Gateway:
    """The simulator, reached through a proxy that, when told to, keeps sales from ever reaching it:
    `refuse` answers HTTP 503 (nothing was sent: unavailable), `lose` answers HTTP 502 (the outcome is
    unknown to the caller, though the simulator never saw the sale). `before_vault_add` runs before the
    next vault entry is made (to let something happen between a request's checks and its lock)."""

    sim: web.Application
    url: str
    sales: str = "pass"  # pass | refuse | lose
    sim_url: str = ""
    before_vault_add: Callable[[], Awaitable[None]] | None = None

    def sale_count(self) -> int:
        return sum(1 for t in self.sim[STATE_KEY].transactions.values() if t.to_json()["type"] == "sale")

    def vault_size(self) -> int:
        return len(self.sim[STATE_KEY].vault)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    sim = create_app(GatewaySimConfig())
    sim_runner = web.AppRunner(sim)
    await sim_runner.setup()
    sim_port = free_port()
    await web.TCPSite(sim_runner, "127.0.0.1", sim_port).start()
    http = aiohttp.ClientSession()
    gw = Gateway(sim, "", sim_url=f"http://127.0.0.1:{sim_port}")

    async def forward(request: web.Request) -> web.Response:
        form = await request.post()
        if form.get("customer_vault") == "add_customer" and gw.before_vault_add is not None:
            hook, gw.before_vault_add = gw.before_vault_add, None
            await hook()
        if form.get("type") == "sale" and gw.sales != "pass":
            return web.Response(status=503 if gw.sales == "refuse" else 502, text="proxy: the sale was not sent")
        async with http.post(gw.sim_url + request.path, data=dict(form)) as reply:
            return web.Response(status=reply.status, text=await reply.text(), content_type="text/html")

    proxy = web.Application()
    proxy.router.add_post("/{tail:.*}", forward)
    proxy_runner = web.AppRunner(proxy)
    await proxy_runner.setup()
    proxy_port = free_port()
    await web.TCPSite(proxy_runner, "127.0.0.1", proxy_port).start()
    gw.url = f"http://127.0.0.1:{proxy_port}"
    yield gw
    await http.close()
    await proxy_runner.cleanup()
    await sim_runner.cleanup()


@pytest.fixture
async def deps(database_url, gateway) -> AsyncIterator[Deps]:
    pool = await create_pool(database_url, "payments")
    await migrate(pool, "payments", "billing_payments")
    box = SecretBox(new_key())
    await settings_store.save(pool, SETTINGS, box)
    async with aiohttp.ClientSession() as http:
        config = PaymentsSettings(gateway_base_url=gateway.url, gateway_timeout_seconds=2,
                                  pending_grace_seconds=0, idempotency_claim_lease_seconds=0.5)
        uow = UnitOfWork(pool, TopicNames("t."))
        async with uow.begin() as tx:
            await directory_store.upsert_contacts(tx.conn, [
                ContactData(contact_id=PAYER, organization_id=ORG, name="Pat Payer"),
                ContactData(contact_id="autotask:902", organization_id=ORG, name="Gone Payer", active=False),
                ContactData(contact_id="autotask:903", organization_id="autotask:999", name="Other Payer"),
            ])
        yield Deps(pool=pool, uow=uow, box=box, http=http, config=config)
    await pool.close()


_numbers = iter(range(1000, 10**6))


async def an_invoice(deps: Deps, total: str = "100.00") -> str:
    n = next(_numbers)
    async with deps.uow.begin() as tx:
        await invoice_store.project_snapshots(tx.conn, [InvoiceSnapshot(
            invoice_id=f"autotask:{n}", organization_id=ORG, invoice_number=str(n), status="open", currency="USD",
            total=money(total), issued_on=date(2026, 11, 1), due_on=None, paid_on=None, pdf_url=None,
            source_version=1)])
    return f"autotask:{n}"


def command(invoice_id: str, *, token: str = "tok_visa_approved", save: bool = False, contact_id: str | None = PAYER,
            key: str | None = None, amount: str | None = None) -> PayCommand:
    return PayCommand(invoice_id=invoice_id, amount=Decimal(amount) if amount else None, contact_id=contact_id,
                      method_id=None, token=token, save_to_wallet=save, environment="autotask",
                      caller_organization_id=None, idempotency_scope="manager:*:*",
                      idempotency_key=key or str(uuid.uuid4()), request_hash=f"{invoice_id}|{token}|{save}|{amount}")


async def refused(deps: Deps, cmd: PayCommand) -> tuple[int, str]:
    with pytest.raises(PaymentError) as caught:
        await pay(deps, cmd)
    return caught.value.status, caught.value.code


async def wallet_changes(deps: Deps) -> tuple[int, int]:
    """(wallet rows, payment_method.added events written to the outbox)."""
    rows = await deps.pool.fetchval("SELECT count(*) FROM wallet_methods")
    added = await deps.pool.fetchval(
        "SELECT count(*) FROM outbox WHERE (payload::jsonb)->>'event_type' = 'payment_method.added'")
    return rows, added


# -- 1: a refused payment leaves the wallet alone ---------------------------------------------------------------

async def test_a_payment_refused_for_its_type_saves_no_card_and_announces_none(deps, gateway):
    invoice_id = await an_invoice(deps)
    assert await refused(deps, command(invoice_id, token="tok_echeck_approved", save=True)) == \
        (422, "payment_type_not_enabled")
    assert await wallet_changes(deps) == (0, 0)
    assert gateway.vault_size() == 0  # the entry made to learn the type is gone again
    paid = await pay(deps, command(invoice_id, save=True))  # the same with an enabled type saves the card once
    assert paid.status == 201 and paid.body["status"] == "succeeded"
    assert await wallet_changes(deps) == (1, 1)


async def test_a_payment_refused_because_another_got_in_flight_meanwhile_saves_no_card(deps, gateway):
    invoice_id = await an_invoice(deps)
    started: list[PayResult] = []

    async def another_payment_gets_in_first() -> None:  # after our checks, before our lock
        gateway.sales = "lose"
        started.append(await pay(deps, command(invoice_id)))  # its outcome unknown: pending, the invoice locked
        gateway.sales = "pass"

    gateway.before_vault_add = another_payment_gets_in_first
    assert await refused(deps, command(invoice_id, save=True)) == (409, "payment_in_progress")
    assert started[0].body["status"] == "pending"
    assert await wallet_changes(deps) == (0, 0)
    assert gateway.vault_size() == 0


# -- 2: the payer ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("contact_id, expected", [
    (None, (422, "invalid_request")),
    ("autotask:404", (422, "contact_not_in_organization")),  # unknown to the directory
    ("autotask:902", (422, "contact_not_in_organization")),  # known, no longer active
    ("autotask:903", (422, "contact_not_in_organization")),  # another organization's
])
async def test_the_payer_must_be_a_known_active_contact_of_the_invoices_organization(deps, gateway, contact_id,
                                                                                   expected):
    invoice_id = await an_invoice(deps)
    assert await refused(deps, command(invoice_id, contact_id=contact_id)) == expected
    assert gateway.sale_count() == 0
    paid = await pay(deps, command(invoice_id))
    assert (paid.status, paid.body["contact_id"]) == (201, PAYER)


# -- 3: a claimed key whose holder died --------------------------------------------------------------------------

async def test_a_key_claimed_by_a_holder_that_died_is_taken_over_after_its_lease(deps, gateway):
    invoice_id = await an_invoice(deps)
    cmd = command(invoice_id)
    dead = await idempotency_store.claim(deps.pool, cmd.idempotency_scope, cmd.idempotency_key, cmd.request_hash,
                                         lease_seconds=deps.config.idempotency_claim_lease_seconds)
    assert dead.new  # ...and its holder is killed before it records a payment
    with pytest.raises(PaymentError) as caught:
        await pay(deps, cmd)
    assert (caught.value.code, caught.value.details["payment_id"]) == ("payment_in_progress", None)  # within its lease
    await deps.pool.execute("UPDATE idempotency_keys SET claimed_at = claimed_at - interval '1 second'")
    paid = await pay(deps, cmd)
    assert (paid.status, paid.body["status"]) == (201, "succeeded")
    assert gateway.sale_count() == 1
    # the dead holder, had it woken up, could no longer link a payment to the key nor answer for it
    async with deps.uow.begin() as tx:
        assert not await idempotency_store.attach(tx.conn, cmd.idempotency_scope, cmd.idempotency_key,
                                                  dead.claim_id, str(uuid.uuid4()))
    await idempotency_store.complete(deps.pool, cmd.idempotency_scope, cmd.idempotency_key, dead.claim_id, 402, {})
    assert await pay(deps, cmd) == PayResult(201, paid.body)  # the retry's answer is what is replayed
    assert gateway.sale_count() == 1


# -- 4: a sale the gateway never had is no decline ---------------------------------------------------------------

async def test_an_unreachable_gateway_is_gateway_unavailable_and_the_same_key_pays_later(deps, gateway):
    invoice_id = await an_invoice(deps)
    cmd = command(invoice_id)
    gateway.sales = "refuse"
    assert await refused(deps, cmd) == (503, "gateway_unavailable")
    gateway.sales = "pass"
    paid = await pay(deps, cmd)
    assert (paid.status, paid.body["status"]) == (201, "succeeded")
    assert gateway.sale_count() == 1


async def test_a_pending_sale_the_gateway_never_received_fails_as_such_and_its_key_is_not_a_decline(deps, gateway):
    invoice_id = await an_invoice(deps)
    cmd = command(invoice_id)
    gateway.sales = "lose"
    pending = await pay(deps, cmd)
    assert (pending.status, pending.body["status"]) == (201, "pending")
    gateway.sales = "pass"
    assert await reconcile_once(deps) == 1
    failed = await deps.pool.fetchrow("SELECT status, failure_reason FROM payments WHERE payment_id = $1",
                                      uuid.UUID(pending.body["payment_id"]))
    assert failed["status"] == "failed" and "never received" in failed["failure_reason"]
    retried = await pay(deps, cmd)  # the client's retry with the same key: nothing was charged, so it pays now
    assert retried.status == 201, retried.body  # not a replayed card_declined
    assert retried.body["status"] == "succeeded"
    assert retried.body["payment_id"] != pending.body["payment_id"]
    assert gateway.sale_count() == 1
    assert await pay(deps, cmd) == PayResult(201, retried.body)
