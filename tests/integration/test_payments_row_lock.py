"""A payment loaded under its row lock is read whole after the lock is granted (Postgres, READ COMMITTED).

A `SELECT ... FOR UPDATE` that waits for another transaction returns the newest version of the locked row,
but the rest of that statement (here the payment's application entries) is read from the snapshot taken
before the wait. A cancel that waited on an approve then saw the approved status without its applications,
took nothing back, and left a cancelled payment applied (found by the chaos harness, seed 48)."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from billing_payments.adapters import invoice_store, payment_store
from billing_payments.domain import ledger
from billing_payments.service.deps import Deps
from billing_payments.service.ledger_writes import commit_outcome
from billing_payments.service.paying import pay
from tests.integration.test_payments_paying import an_invoice, command, deps, gateway  # noqa: F401 (the fixtures)

pytestmark = pytest.mark.timeout(60)


async def blocked_by(deps: Deps, holder_pid: int) -> None:
    """Until some session waits for a lock the session `holder_pid` holds."""
    while not await deps.pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))", holder_pid):
        await asyncio.sleep(0.02)


async def test_a_payment_locked_after_waiting_shows_the_entries_the_holder_committed(deps, gateway):
    invoice_id = await an_invoice(deps, "75.00")
    paid = await pay(deps, command(invoice_id, amount="44.00"))
    payment_id = paid.body["payment_id"]

    async with deps.pool.acquire() as holder, deps.pool.acquire() as waiter:
        async with holder.transaction():
            before = await payment_store.load(holder, payment_id, for_update=True)
            assert before is not None and before.applications() == {invoice_id: before.sale_amount}
            outcome = ledger.unapply_voided_invoice(before, invoice_id)  # writes a new entry of -44.00
            assert outcome is not None
            await payment_store.save(holder, before, outcome.payment)

            async def load_under_lock():
                async with waiter.transaction():
                    return await payment_store.load(waiter, payment_id, for_update=True)

            waiting = asyncio.create_task(load_under_lock())
            await asyncio.wait_for(blocked_by(deps, holder.get_server_pid()), 10)
        seen = await asyncio.wait_for(waiting, 10)

    assert seen is not None and seen.version == before.version + 1
    assert seen.applications() == {}, "the entry committed while the load waited is missing"
    assert seen.unapplied_amount == before.sale_amount


async def test_a_cancel_that_waited_for_an_apply_takes_back_every_application(deps, gateway):
    """The ledger path of seed 48: what cancel takes back is what the payment applies when it commits."""
    first, second = await an_invoice(deps, "75.00"), await an_invoice(deps, "30.00")
    paid = await pay(deps, command(first, amount="44.00"))
    payment_id = paid.body["payment_id"]
    async with deps.uow.begin() as tx:  # the first invoice is voided: its 44.00 is unapplied
        p = await payment_store.load(tx.conn, payment_id, for_update=True)
        await commit_outcome(tx, p, ledger.unapply_voided_invoice(p, first))

    async with deps.pool.acquire() as holder, deps.uow.begin() as cancelling:
        async with deps.uow.transaction(holder) as applying:
            p = await payment_store.load(holder, payment_id, for_update=True)
            target = await invoice_store.get(holder, second, for_update=True)
            await commit_outcome(applying, p, ledger.apply_to(p, target, datetime.now(UTC), keep_remainder=True))
            waiting = asyncio.create_task(payment_store.load(cancelling.conn, payment_id, for_update=True))
            await asyncio.wait_for(blocked_by(deps, holder.get_server_pid()), 10)
        current = await asyncio.wait_for(waiting, 10)
        cancelled = ledger.cancel(current)
        await commit_outcome(cancelling, current, cancelled)

    stored = await payment_store.load(deps.pool, payment_id)
    assert stored.status == "cancelled"
    assert stored.applications() == {} and stored.applied_amount == 0
    assert [str(i.balance) for i in (await invoice_store.get_many(deps.pool, [first, second])).values()] == \
        ["75.00", "30.00"]
