"""Several invoices paid in one sale (CONTRACT.md, `POST /v1/payments` with `invoices`), on the real database,
against the gateway simulator: one sale for the sum and one application per invoice; one invoice that cannot
be paid refuses the whole payment before anything is charged or marked; a void of one invoice unapplies only
its share, a cancel gives every invoice its balance back; the reconciler frees every invoice of a pending
payment; and payments over overlapping invoices, started together, never deadlock nor over-apply."""
from __future__ import annotations

import asyncio
import uuid
from datetime import date
from decimal import Decimal

import pytest

from billing_payments.adapters import invoice_store, payment_store
from billing_payments.domain.errors import PaymentError
from billing_payments.service import actions
from billing_payments.service.deps import Deps
from billing_payments.service.invoice_projection import on_invoice_snapshots
from billing_payments.service.paying import InvoiceAmount, PayCommand, PayResult, pay
from billing_payments.service.reconciler import reconcile_once
from billing_shared.events.invoices import InvoiceSnapshot, InvoiceSynced
from billing_shared.money import money
from billing_simulators.gateway.state import STATE_KEY
from tests.integration.test_payments_paying import (  # noqa: F401 (the fixtures)
    ORG,
    PAYER,
    Gateway,
    an_invoice,
    command,
    deps,
    gateway,
    refused,
)

pytestmark = pytest.mark.timeout(120)


def several(*lines: tuple[str, str | None], key: str | None = None, organization: str | None = None) -> PayCommand:
    """A payment of several invoices: (invoice_id, amount or None for its balance) each."""
    return PayCommand(invoice_id="", amount=None, contact_id=PAYER, method_id=None, token="tok_visa_approved",
                      save_to_wallet=False, environment="client_portal" if organization else "autotask",
                      caller_organization_id=organization, idempotency_scope="manager:*:*",
                      idempotency_key=key or str(uuid.uuid4()), request_hash=repr(lines),
                      invoices=tuple(InvoiceAmount(i, Decimal(a) if a else None) for i, a in lines))


async def balances(deps: Deps, *invoice_ids: str) -> list[str]:
    found = await invoice_store.get_many(deps.pool, invoice_ids)
    return [str(found[i].balance) for i in invoice_ids]


async def in_flight(deps: Deps) -> int:
    return await deps.pool.fetchval("SELECT count(*) FROM invoices WHERE in_flight_payment_id IS NOT NULL")


async def snapshot(deps: Deps, invoice_id: str, *, status: str, total: str, version: int,
                   organization_id: str = ORG) -> None:
    async with deps.uow.begin() as tx:
        await on_invoice_snapshots(tx, [InvoiceSynced.new(producer="test", organization_id=organization_id,
                                                          data=InvoiceSnapshot(
            invoice_id=invoice_id, organization_id=organization_id, invoice_number=invoice_id.split(":")[1],
            status=status, currency="USD", total=money(total), issued_on=date(2026, 11, 1), due_on=None,
            paid_on=None, pdf_url=None, source_version=version))])


async def ledger_invariants(deps: Deps) -> None:
    """Per invoice: 0 <= applied <= total, and applied is the sum of the live entries of counting payments."""
    rows = await deps.pool.fetch(
        """SELECT i.invoice_id, i.applied, i.source_total,
                  coalesce((SELECT sum(e.amount) FROM application_entries e JOIN payments p USING (payment_id)
                            WHERE e.invoice_id = i.invoice_id AND p.status = 'succeeded'), 0) AS entries
           FROM invoices i""")
    for r in rows:
        assert 0 <= r["applied"] <= r["source_total"], dict(r)
        assert r["applied"] == r["entries"], dict(r)


# -- one sale, one application per invoice ------------------------------------------------------------------------

async def test_three_invoices_are_paid_in_one_sale_with_one_application_each(deps, gateway: Gateway):
    a, b, c = await an_invoice(deps, "100.00"), await an_invoice(deps, "200.00"), await an_invoice(deps, "50.00")
    paid = await pay(deps, several((c, None), (a, None), (b, "150.00")))
    body = paid.body
    assert (paid.status, body["status"]) == (201, "succeeded")
    assert body["applications"] == [{"invoice_id": c, "amount": "50.00"}, {"invoice_id": a, "amount": "100.00"},
                                    {"invoice_id": b, "amount": "150.00"}]
    assert (body["sale_amount"], body["applied_amount"], body["original_amount"], body["unapplied_amount"]) == \
        ("300.00", "300.00", "300.00", "0.00")
    assert [t["type"] for t in body["transactions"]] == ["sale"] and body["transaction_id"]
    assert await balances(deps, a, b, c) == ["0.00", "50.00", "0.00"]
    assert await in_flight(deps) == 0
    assert gateway.sale_count() == 1
    # every invoice finds the payment; the payment's own invoice_id column holds the first one of the request
    for invoice_id in (a, b, c):
        found = await payment_store.search(deps.pool, organization_id=None, invoice_id=invoice_id, status=None,
                                           from_date=None, to_date=None, after=None, limit=10)
        assert [p.payment_id for p in found] == [body["payment_id"]]
    assert (await payment_store.load(deps.pool, body["payment_id"])).invoice_id == c  # type: ignore[union-attr]
    await ledger_invariants(deps)


async def test_the_sale_at_the_gateway_is_the_sum_of_the_invoices(deps, gateway: Gateway):
    a, b = await an_invoice(deps, "10.10"), await an_invoice(deps, "20.20")
    paid = await pay(deps, several((a, None), (b, "5.05")))
    [sale] = [t.to_json() for t in gateway.sim[STATE_KEY].transactions.values() if t.to_json()["type"] == "sale"]
    assert (sale["amount"], sale["order_id"], sale["transaction_id"]) == \
        ("15.15", paid.body["payment_id"], paid.body["transaction_id"])


# -- one invoice not payable refuses the whole payment -------------------------------------------------------------

@pytest.mark.parametrize("spoil, expected", [
    ("voided", (409, "invoice_not_payable")),
    ("paid", (409, "invoice_already_paid")),
    ("too_much", (422, "amount_exceeds_balance")),
    ("unknown", (404, "not_found")),
    ("other_org", (422, "invalid_request")),
    ("in_flight", (409, "payment_in_progress")),
])
async def test_one_invoice_that_cannot_be_paid_refuses_the_whole_payment(deps, gateway: Gateway, spoil, expected):
    a, b, c = await an_invoice(deps), await an_invoice(deps), await an_invoice(deps)
    amount_b = None
    if spoil in ("voided", "paid"):
        await snapshot(deps, b, status=spoil, total="100.00", version=2)
    elif spoil == "too_much":
        amount_b = "100.01"
    elif spoil == "unknown":
        b = "autotask:404404"
    elif spoil == "other_org":
        await snapshot(deps, b, status="open", total="100.00", version=2, organization_id="autotask:999")
    elif spoil == "in_flight":
        gateway.sales = "lose"  # another payment of b, its outcome unknown: b stays in flight
        pending = await pay(deps, command(b))
        assert pending.body["status"] == "pending"
        gateway.sales = "pass"
    sales_before = gateway.sale_count()
    markers_before = await in_flight(deps)
    payments_before = await deps.pool.fetchval("SELECT count(*) FROM payments")
    with pytest.raises(PaymentError) as caught:
        await pay(deps, several((a, None), (b, amount_b), (c, None)))
    assert (caught.value.status, caught.value.code) == expected
    if spoil != "other_org":
        assert caught.value.details["invoice_id"] == b  # the refusal names the invoice
    assert gateway.sale_count() == sales_before  # nothing charged
    assert await in_flight(deps) == markers_before  # no marker left by the refused payment
    assert await deps.pool.fetchval("SELECT count(*) FROM payments") == payments_before
    assert (await balances(deps, a, c)) == ["100.00", "100.00"]
    assert gateway.vault_size() == 0  # the token's vault entry is gone again


async def test_a_client_pays_only_its_own_organizations_invoices(deps, gateway: Gateway):
    a, b = await an_invoice(deps), await an_invoice(deps)
    await snapshot(deps, b, status="open", total="100.00", version=2, organization_id="autotask:999")
    assert await refused(deps, several((a, None), (b, None), organization=ORG)) == (404, "not_found")
    paid = await pay(deps, several((a, "40.00"), organization=ORG))
    assert (paid.status, paid.body["applications"]) == (201, [{"invoice_id": a, "amount": "40.00"}])
    assert gateway.sale_count() == 1


# -- a void unapplies one application; a cancel gives every invoice its balance back --------------------------------

async def test_a_void_of_one_of_the_invoices_unapplies_only_its_share(deps, gateway: Gateway):
    a, b, c = await an_invoice(deps, "100.00"), await an_invoice(deps, "200.00"), await an_invoice(deps, "50.00")
    paid = await pay(deps, several((a, None), (b, None), (c, "20.00")))
    await snapshot(deps, b, status="voided", total="200.00", version=2)
    after = await payment_store.load(deps.pool, paid.body["payment_id"])
    assert after is not None and after.status == "succeeded"
    assert after.applications() == {a: Decimal("100.00"), c: Decimal("20.00")}
    assert (after.sale_amount, after.applied_amount, after.unapplied_amount) == \
        (Decimal("320.00"), Decimal("120.00"), Decimal("200.00"))
    assert await balances(deps, a, c) == ["0.00", "30.00"]
    assert await deps.pool.fetchval("SELECT applied FROM invoices WHERE invoice_id = $1", b) == 0
    await ledger_invariants(deps)


async def test_a_cancel_gives_every_invoice_its_balance_back(deps, gateway: Gateway):
    a, b, c = await an_invoice(deps, "100.00"), await an_invoice(deps, "200.00"), await an_invoice(deps, "50.00")
    paid = await pay(deps, several((a, None), (b, "70.00"), (c, None)))
    assert await balances(deps, a, b, c) == ["0.00", "130.00", "0.00"]
    cancelled = (await actions.cancel(deps, paid.body["payment_id"])).payment
    assert (cancelled.status, cancelled.gateway_reversal, cancelled.applications()) == ("cancelled", "voided", {})
    assert await balances(deps, a, b, c) == ["100.00", "200.00", "50.00"]
    await ledger_invariants(deps)


# -- the reconciler frees every invoice of a pending payment ---------------------------------------------------------

async def test_the_reconciler_frees_every_invoice_of_a_pending_payment(deps, gateway: Gateway):
    a, b, c = await an_invoice(deps), await an_invoice(deps), await an_invoice(deps)
    gateway.sales = "lose"
    pending = await pay(deps, several((a, None), (b, None), (c, None)))
    assert (pending.status, pending.body["status"], pending.body["original_amount"]) == (201, "pending", "300.00")
    assert await in_flight(deps) == 3
    assert await refused(deps, command(b)) == (409, "payment_in_progress")  # one payment in flight per invoice
    gateway.sales = "pass"
    assert await reconcile_once(deps) == 1
    assert await in_flight(deps) == 0
    assert await balances(deps, a, b, c) == ["100.00", "100.00", "100.00"]
    again = await pay(deps, several((a, None), (b, None), (c, None)))
    assert again.body["status"] == "succeeded" and await balances(deps, a, b, c) == ["0.00", "0.00", "0.00"]


# -- overlapping payments started together ---------------------------------------------------------------------------

async def test_overlapping_payments_started_together_never_deadlock_nor_over_apply(deps, gateway: Gateway):
    """Each round: {A,B}, {B,C} and {C,A} (a cycle, were the rows locked in the request's order), 40.00 of each
    invoice of 100.00, started at once. Every outcome is a success or payment_in_progress; nothing else."""
    succeeded: list[PayResult] = []
    for _ in range(10):
        a, b, c = await an_invoice(deps), await an_invoice(deps), await an_invoice(deps)

        async def attempt(first: str, second: str) -> str:
            try:
                result = await pay(deps, several((first, "40.00"), (second, "40.00")))
            except PaymentError as exc:
                return exc.code
            succeeded.append(result)
            return result.body["status"]

        outcomes = await asyncio.wait_for(asyncio.gather(attempt(a, b), attempt(b, c), attempt(c, a)), timeout=30)
        assert set(outcomes) <= {"succeeded", "payment_in_progress"}, outcomes
        assert "succeeded" in outcomes
        for invoice_id in (a, b, c):
            invoice = (await invoice_store.get_many(deps.pool, [invoice_id]))[invoice_id]
            assert invoice.applied <= invoice.total and invoice.in_flight_payment_id is None
    assert gateway.sale_count() == len(succeeded)
    assert all(len(p.body["applications"]) == 2 and p.body["sale_amount"] == "80.00" for p in succeeded)
    await ledger_invariants(deps)
