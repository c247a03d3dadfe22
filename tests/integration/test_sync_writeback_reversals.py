"""Payment write-back of reversed payments (issue 8): a payment charged at the gateway, then cancelled
or charged back, ends in accounting as one payment recorded then voided, whether accounting took the
first write before the reversal arrived or refused it (a 503) and the reversal came during the retry
wait. A payment that never succeeded is never written. The sync service runs in-process on the real
broker and database, against the simulators."""
from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from billing_shared.events.payments import PaymentCancelled, PaymentChargedBack, PaymentFailed, PaymentSucceeded
from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_sync.adapters import writeback_store
from billing_sync.adapters.writeback_store import Desired
from billing_sync.domain.writeback import live_applications
from tests.e2e.sync_support import simulators, sync_in_process, sync_settings
from tests.integration.test_sync_writeback import Payments, books_payments, numbered, settled, snapshot
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)

REVERSALS = {
    # as payments publishes them: a cancel shows every amount 0.00 and drops the applications (the sale
    # row stays for audit); a chargeback keeps amounts and applications
    "cancelled": (PaymentCancelled, lambda: snapshot("p1", status="cancelled", applied="0.00", applications={})
                  .model_copy(update={"sale_amount": Decimal("0.00")})),
    "charged_back": (PaymentChargedBack, lambda: snapshot("p1", status="charged_back")),
}


@pytest.fixture
async def world(infra, database_url, topic_prefix):
    """As in test_sync_writeback, but a failed write waits a minute before its retry, so an event that
    arrives meanwhile is what the worker sees next (a new snapshot is handled at once)."""
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all())
    payments = Payments(infra.kafka_bootstrap, names)
    await payments.producer.start()
    settings = sync_settings(infra, database_url, topic_prefix, writeback_retry_seconds=60.0)
    try:
        async with simulators() as sims, sync_in_process(settings) as api:
            yield sims, api, payments, await numbered(sims, api)
    finally:
        await payments.producer.stop()


async def _row(api, payment_id: str) -> dict | None:
    page = await api.call("GET", "/v1/sync/payment-writebacks", expect=200)
    return next((i for i in page["items"] if i["payment_id"] == payment_id), None)


@pytest.mark.parametrize("refused_first", [False, True], ids=["written-first", "first-create-refused"])
@pytest.mark.parametrize("reversal", sorted(REVERSALS))
async def test_a_reversed_payment_is_recorded_then_voided_in_accounting_whatever_the_timing(world, reversal,
                                                                                          refused_first):
    sims, api, payments, books = world
    invoice_501 = books["autotask:501"]["Id"]
    if refused_first:
        await sims.acct_call("POST", "/_sim/faults", {"path_contains": "/payment", "method": "POST", "status": 503,
                                                      "count": 1})
    await payments.publish(PaymentSucceeded, snapshot("p1"))
    if refused_first:
        async def refused():
            row = await _row(api, "p1")
            return row if row and row["pending"] and "503" in (row["last_error"] or "") else None
        await eventually(refused, timeout=30)
        assert await books_payments(sims) == []  # accounting has not taken it; its retry is a minute away
    else:
        await settled(api, 1)
        assert (await sims.acct_call("GET", f"/_sim/invoices/{invoice_501}"))["Balance"] == 0
    event_class, reversed_snapshot = REVERSALS[reversal]
    await payments.publish(event_class, reversed_snapshot())

    async def voided():
        row = await _row(api, "p1")
        return row if row and not row["pending"] and row["accounting_voided"] else None
    row = await eventually(voided, timeout=30)
    [payment] = await books_payments(sims)  # exactly one: recorded (charged at the gateway), then voided
    assert (payment["PaymentRefNum"], payment["TotalAmt"], payment["PrivateNote"]) == ("4001", 0, "Voided")
    assert row["accounting_payment_id"] == payment["Id"]
    assert (await sims.acct_call("GET", f"/_sim/invoices/{invoice_501}"))["Balance"] == 500.0  # as before it
    assert (await sims.psa_call("GET", "/_sim/invoices/501"))["paidDate"] is None


async def test_a_payment_that_never_succeeded_is_never_written(world):
    sims, api, payments, _ = world
    failed = snapshot("p1", status="failed", sale="0.00", applied="0.00", applications={}).model_copy(
        update={"transaction_id": None, "transactions": [], "failure_reason": "declined"})
    await payments.publish(PaymentFailed, failed)
    marker = await payments.publish(PaymentSucceeded, snapshot("p2", sale="300.00",
                                                               applications={"autotask:502": "300.00"},
                                                               transaction_id="4002"))
    await settled(api, 2)  # everything before the marker has been handled
    assert [p["PaymentRefNum"] for p in await books_payments(sims)] == [marker.data.transaction_id]
    assert (await sims.psa_call("GET", "/_sim/invoices/501"))["paidDate"] is None


async def test_a_reversed_payment_whose_invoice_another_payment_paid_since_is_recorded_unapplied_then_voided(world):
    """p1 pays invoice 501, accounting refuses the first write, p1 is cancelled and p2 pays 501 in full
    meanwhile. p1 must still end recorded then voided: recorded with its lines, accounting would refuse it
    for ever (the amount applied exceeds the open balance, now 0). Found by the chaos harness."""
    sims, api, payments, books = world
    invoice_501 = books["autotask:501"]["Id"]
    await sims.acct_call("POST", "/_sim/faults", {"path_contains": "/payment", "method": "POST", "status": 503,
                                                  "count": 1})
    await payments.publish(PaymentSucceeded, snapshot("p1"))

    async def refused():
        row = await _row(api, "p1")
        return row if row and row["pending"] and "503" in (row["last_error"] or "") else None
    await eventually(refused, timeout=30)
    await payments.publish(PaymentSucceeded, snapshot("p2", transaction_id="4002"))  # pays 501 in full
    event_class, cancelled = REVERSALS["cancelled"]
    await payments.publish(event_class, cancelled())

    async def voided():
        row = await _row(api, "p1")
        return row if row and not row["pending"] and row["accounting_voided"] else None
    row = await eventually(voided, timeout=30)
    recorded = {p["PaymentRefNum"]: p for p in await books_payments(sims)}
    assert (recorded["4001"]["TotalAmt"], recorded["4001"]["PrivateNote"]) == (0, "Voided")
    assert row["accounting_payment_id"] == recorded["4001"]["Id"]
    assert recorded["4002"]["TotalAmt"] == 500.0
    assert (await sims.acct_call("GET", f"/_sim/invoices/{invoice_501}"))["Balance"] == 0  # paid by p2


async def test_a_batch_that_never_ran_is_sent_again_with_its_reversed_member_unapplied(world, database_url):
    """p1's batch failed as a whole (a 503: nothing ran) and keeps its batch key; then p2 pays invoice 501 in
    full and p1 is cancelled, both recorded at once, so p1's batch is sent again first, in the same round as
    p2's. Sent again with p1's lines, it would take 501's balance from p2 (refused, a minute's retry); sent
    with p1 unapplied, both are written at once and p1 ends recorded then voided."""
    sims, api, payments, books = world
    await sims.acct_call("POST", "/_sim/faults", {"path_contains": "/batch", "status": 503, "count": 1})
    await payments.publish(PaymentSucceeded, snapshot("p1"))

    async def refused():
        row = await _row(api, "p1")
        return row if row and row["pending"] and "503" in (row["last_error"] or "") else None
    await eventually(refused, timeout=30)
    p2 = snapshot("p2", transaction_id="4002")
    _, cancelled = REVERSALS["cancelled"]
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "sync"})
    try:
        async with conn.transaction():
            await writeback_store.record_desired(conn, [
                Desired("p2", p2.organization_id, p2, datetime.now(UTC), live_applications(p2), p2),
                Desired("p1", p2.organization_id, cancelled(), datetime.now(UTC), {}, None)])
    finally:
        await conn.close()

    async def both_done():
        p1_row, p2_row = await _row(api, "p1"), await _row(api, "p2")
        done = p1_row and p2_row and not p1_row["pending"] and not p2_row["pending"]
        return (p1_row, p2_row) if done else None
    p1_row, p2_row = await eventually(both_done, timeout=20)  # well before a refused write's retry
    assert p1_row["accounting_voided"] and p2_row["attempts"] == 0 and p2_row["last_error"] is None
    recorded = {p["PaymentRefNum"]: p for p in await books_payments(sims)}
    assert (recorded["4001"]["TotalAmt"], recorded["4001"]["Line"]) == (0, [])
    assert recorded["4002"]["TotalAmt"] == 500.0 and len(recorded) == 2
    assert (await sims.acct_call("GET", f"/_sim/invoices/{books['autotask:501']['Id']}"))["Balance"] == 0
