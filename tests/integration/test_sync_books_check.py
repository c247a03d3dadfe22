"""Sync's half of three-way reconciliation: each books drift class is injected through the simulators'
`/_sim/` surface, a `reconciliation.requested` (as payments publishes it) is answered by ONE
`reconciliation.books_checked` listing exactly that drift, and after a `writeback.resend_requested` the next
check finds none. The sync service runs in-process on the real broker and database, against the simulators."""
from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer

from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.events.payments import PaymentSucceeded
from billing_shared.events.reconciliation import (
    BooksCheckedData, ReconciliationRequested, ReconciliationRequestedData, WritebackResendRequested,
    WritebackResendRequestedData,
)
from billing_shared.kafka.topics import TopicNames, ensure_topics
from tests.e2e.sync_support import simulators, sync_in_process, sync_settings
from tests.integration.test_sync_writeback import Payments, books_payments, numbered, settled, snapshot
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)

NOVEMBER = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))  # the payments' sales: Nov 27


class Reconciliation:
    """Plays payments' side: asks for a books check and a re-send, reads the answers on billing.sync.v1."""

    def __init__(self, payments: Payments, bootstrap: str, names: TopicNames) -> None:
        self.payments = payments
        self.bootstrap = bootstrap
        self.names = names

    async def request(self, run_id: str | None = None, period: tuple[datetime, datetime] = NOVEMBER) -> Any:
        data = ReconciliationRequestedData(run_id=run_id or str(uuid.uuid4()), trigger="on_demand",
                                           period_start=period[0], period_end=period[1])
        event = ReconciliationRequested.new(producer="payments", organization_id="system", data=data)
        await self.payments.resend(event)
        return event

    async def resend(self, payment_id: str | None = None, invoice_id: str | None = None) -> None:
        data = WritebackResendRequestedData(drift_id=str(uuid.uuid4()), payment_id=payment_id, invoice_id=invoice_id)
        await self.payments.resend(WritebackResendRequested.new(producer="payments", organization_id="system",
                                                                data=data))

    async def answers(self, run_id: str, *, settle: float = 0.0, timeout: float = 40.0) -> list[BooksCheckedData]:
        """Every books_checked for `run_id` (waiting for the first, then `settle` seconds more)."""
        consumer = AIOKafkaConsumer(self.names(BILLING_SYNC), bootstrap_servers=self.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    isolation_level="read_committed", group_id=None)
        await consumer.start()
        try:
            found: list[BooksCheckedData] = []
            deadline, settle_until = time.monotonic() + timeout, None
            while True:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    for record in records:
                        event = json.loads(record.value)
                        if event["event_type"] == "reconciliation.books_checked" and event["data"]["run_id"] == run_id:
                            found.append(BooksCheckedData.model_validate(event["data"]))
                now = time.monotonic()
                if found and settle_until is None:
                    settle_until = now + settle
                if settle_until is not None and now >= settle_until:
                    return found
                assert now < deadline, f"no books_checked for run {run_id}"
        finally:
            await consumer.stop()

    async def check(self) -> BooksCheckedData:
        event = await self.request()
        [answer] = await self.answers(event.data.run_id)
        return answer


def codes(answer: BooksCheckedData) -> list[tuple[str, str | None, str | None]]:
    return [(d.code, d.payment_id, d.invoice_id) for d in answer.drifts]


@pytest.fixture
async def world(infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all())
    payments = Payments(infra.kafka_bootstrap, names)
    await payments.producer.start()
    try:
        async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
            books = await numbered(sims, api)
            await payments.publish(PaymentSucceeded, snapshot("p1"))  # 500.00 on invoice 501 (paid in full)
            await payments.publish(PaymentSucceeded, snapshot("p2", sale="400.00", transaction_id="4002",
                                                              applications={"autotask:503": "400.00"}))
            await settled(api, 2)
            yield sims, api, Reconciliation(payments, infra.kafka_bootstrap, names), books
    finally:
        await payments.producer.stop()


async def accounting_payment(sims, payment_id: str) -> dict | None:
    return next((p for p in await books_payments(sims) if f"billing-link payment {payment_id};" in
                 str(p.get("PrivateNote"))), None)


async def test_agreeing_books_give_no_drift_and_a_request_delivered_twice_is_answered_once(world):
    sims, api, recon, _ = world
    first = await recon.request()
    await recon.payments.resend(first)  # the same event again at once: the inbox drops it
    [answer] = await recon.answers(first.data.run_id)
    await recon.payments.resend(first)  # and again once answered
    again = ReconciliationRequested.new(producer="payments", organization_id="system", data=first.data)
    await recon.payments.resend(again)  # the same run asked under another event id
    assert await recon.answers(first.data.run_id, settle=3.0) == [answer]
    assert answer.failure is None and answer.drifts == [] and not answer.truncated
    assert answer.payments_checked == 2
    assert answer.invoices_checked >= 2  # 501 and 503 in the PSA; 502 and 503 open against the books
    # a period without sales checks no payment
    [empty] = await recon.answers((await recon.request(period=(datetime(2026, 10, 1, tzinfo=UTC),
                                                               datetime(2026, 11, 1, tzinfo=UTC)))).data.run_id)
    assert empty.payments_checked == 0 and empty.drifts == []


async def test_a_payment_deleted_in_accounting_is_missing_until_the_write_back_is_resent(world):
    sims, api, recon, _ = world
    deleted = await accounting_payment(sims, "p1")
    await sims.acct_call("POST", f"/_sim/payments/{deleted['Id']}/delete")
    answer = await recon.check()
    assert codes(answer) == [("accounting_payment_missing", "p1", None)]
    assert answer.drifts[0].amount == 500 and answer.drifts[0].evidence.ledger

    await recon.resend(payment_id="p1")

    async def recreated():
        return await accounting_payment(sims, "p1") and await settled(api, 2)
    await eventually(recreated, timeout=30)
    again = await recon.check()
    assert again.drifts == [] and again.failure is None
    recreated_payment = await accounting_payment(sims, "p1")
    assert recreated_payment["Id"] != deleted["Id"] and recreated_payment["TotalAmt"] == 500.0
    assert len(await books_payments(sims)) == 2  # p1 (again) and p2: nothing else was written


async def test_a_payment_edited_in_accounting_differs_until_the_write_back_is_resent(world):
    sims, api, recon, books = world
    edited = await accounting_payment(sims, "p1")
    await sims.acct_call("POST", f"/_sim/payments/{edited['Id']}/amount", {"amount": "450.00"})
    answer = await recon.check()
    assert codes(answer) == [("accounting_amount_differs", "p1", None)]
    assert (answer.drifts[0].accounting_id, answer.drifts[0].amount) == (edited["Id"], 50)

    await recon.resend(payment_id="p1")

    async def restored():
        payment = await accounting_payment(sims, "p1")
        return payment["TotalAmt"] == 500.0 and await settled(api, 2)
    await eventually(restored, timeout=30)
    assert (await recon.check()).drifts == []
    assert (await sims.acct_call("GET", f"/_sim/invoices/{books['autotask:501']['Id']}"))["Balance"] == 0


async def test_a_psa_paid_date_cleared_by_hand_differs_until_resent(world):
    sims, api, recon, _ = world
    await sims.psa_call("PATCH", "/_sim/invoices/501", {"paidDate": None})
    answer = await recon.check()
    assert codes(answer) == [("psa_paid_date_differs", None, "autotask:501")]
    assert answer.drifts[0].evidence.psa == "paid date none"

    await recon.resend(invoice_id="autotask:501")

    async def dated():
        return (await sims.psa_call("GET", "/_sim/invoices/501"))["paidDate"]
    await eventually(dated, timeout=30)
    assert (await recon.check()).drifts == []


async def test_an_invoice_paid_elsewhere_in_accounting_while_open_here(world):
    sims, api, recon, books = world
    invoice_503 = books["autotask:503"]["Id"]  # 1000.00: 400.00 ours, 600.00 still open here
    await sims.acct_call("POST", f"/_sim/invoices/{invoice_503}/pay-elsewhere", {"amount": "600.00"})
    answer = await recon.check()
    assert codes(answer) == [("paid_elsewhere_while_open", None, "autotask:503")]
    assert (answer.drifts[0].accounting_id, answer.drifts[0].amount) == (invoice_503, 600)
    # once a sync run has read the balance back the invoice is published paid: no longer open here
    assert (await api.run_to_end())["status"] == "completed"
    assert (await recon.check()).drifts == []


async def test_books_that_cannot_be_read_are_answered_with_a_failure(world):
    sims, api, recon, _ = world
    await sims.acct_call("POST", "/_sim/faults", {"path_contains": "/query", "status": 503, "count": 1})
    answer = await recon.check()  # one refused read is tried again
    assert answer.failure is None and answer.drifts == [] and answer.payments_checked == 2
    assert (await sims.acct_call("GET", "/_sim/requests"))["faults_injected"] == 1

    await sims.acct_call("POST", "/_sim/faults", {"path_contains": "/query", "status": 503, "count": 1000})
    answer = await recon.check()
    assert answer.failure and "could not be read" in answer.failure and answer.drifts == []
    await sims.acct_call("DELETE", "/_sim/faults")

    await api.call("DELETE", "/v1/integrations/quickbooks", expect=204)
    answer = await recon.check()
    assert answer.failure and "not connected" in answer.failure


async def test_a_request_a_crashed_leader_left_unanswered_is_checked_and_answered(world, database_url):
    sims, api, recon, _ = world
    # What a leader that died mid-check leaves: the request recorded, attempts made, no answer published
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            """INSERT INTO sync.reconciliation_requests (run_id, trigger, period_start, period_end, attempts)
               VALUES ('crashed-run', 'nightly', $1, $2, 1)""", *NOVEMBER)
        await conn.execute("SELECT pg_notify('sync_books_check', '')")
        [answer] = await recon.answers("crashed-run", settle=1.0)
        assert answer.failure is None and answer.payments_checked == 2 and answer.drifts == []
        assert await conn.fetchval(
            "SELECT status FROM sync.reconciliation_requests WHERE run_id = 'crashed-run'") == "done"
    finally:
        await conn.close()
