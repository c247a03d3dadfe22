"""Payment write-back: `billing.payments.v1` snapshots (as payments publishes them) become accounting
payments and PSA paid dates; replays change nothing; a crash between create and record makes no
duplicate; accounting failures are retried. The sync service runs in-process on the real broker and
database, against the simulators."""
from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from billing_shared.events.catalog import BILLING_INVOICES, BILLING_PAYMENTS
from billing_shared.events.payments import (
    PaymentApplied, PaymentCancelled, PaymentSnapshot, PaymentSucceeded, PaymentUnapplied,
)
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_simulators.accounting.state import SIM_STATE
from tests.e2e.sync_support import (
    Sims, SyncApi, seed_customer, seed_invoice, simulators, sync_in_process, sync_settings,
)
from tests.support import eventually, read_topic

pytestmark = pytest.mark.timeout(120)


def snapshot(payment_id: str, status: str = "succeeded", sale: str = "500.00", applied: str | None = None,
             unapplied: str = "0.00", refund: str = "0.00", applications: dict[str, str] | None = None,
             transaction_id: str = "4001", refunds: tuple[dict[str, Any], ...] = ()) -> PaymentSnapshot:
    applications = {"autotask:501": sale} if applications is None else applications
    applied = applied if applied is not None else str(sum((Decimal(a) for a in applications.values()), Decimal("0.00")))
    return PaymentSnapshot.model_validate({
        "payment_id": payment_id, "transaction_id": transaction_id, "order_id": payment_id,
        "organization_id": "autotask:678", "contact_id": "autotask:901", "environment": "client_portal",
        "method": {"type": "credit_card", "brand": "visa", "last4": "1111"}, "currency": "USD", "status": status,
        "sale_amount": sale, "applied_amount": applied, "unapplied_amount": unapplied, "refund_amount": refund,
        "original_amount": sale, "applications": [{"invoice_id": i, "amount": a} for i, a in applications.items()],
        "transactions": [{"type": "sale", "amount": sale, "at": "2026-11-27T10:00:00Z",
                          "transaction_id": transaction_id},
                         *({"type": "refund", "at": "2026-11-27T11:00:00Z", **r} for r in refunds)],
    })


class Payments:
    """Plays the payments service: publishes payment events on the real topic."""

    def __init__(self, bootstrap: str, names: TopicNames) -> None:
        self.producer = make_producer(bootstrap)
        self.names = names
        self.sent: list[Any] = []

    async def publish(self, event_class: type, data: PaymentSnapshot) -> Any:
        event = event_class.new(producer="payments", organization_id=data.organization_id, data=data)
        await self.resend(event)
        self.sent.append(event)
        return event

    async def resend(self, event: Any) -> None:
        await self.producer.send_and_wait(self.names(BILLING_PAYMENTS), event.to_json(),
                                          key=event.organization_id.encode())


async def numbered(sims: Sims, api: SyncApi) -> dict[str, dict]:
    """Acme Dental with invoices 501 (500.00), 502 (300.00), 503 (1000.00), synced and numbered."""
    await seed_customer(sims)
    for external_id, total in ((501, "500.00"), (502, "300.00"), (503, "1000.00")):
        await seed_invoice(sims, external_id, total)
    await api.setup(sims)
    assert (await api.run_to_end())["status"] == "completed"
    return {b["PrivateNote"].rsplit(" ", 1)[1]: b for b in await sims.acct_call("GET", "/_sim/invoices")}


async def written_back(api: SyncApi) -> list[dict]:
    page = await api.call("GET", "/v1/sync/payment-writebacks", expect=200)
    return page["items"] if page["items"] and not any(i["pending"] for i in page["items"]) else []


async def settled(api: SyncApi, count: int) -> list[dict]:
    async def done():
        items = await written_back(api)
        return items if len(items) == count else None
    return await eventually(done, timeout=30)


async def books_payments(sims: Sims) -> list[dict]:
    return await sims.acct_call("GET", "/_sim/payments")


async def ledger(sims: Sims, customer_id: str) -> dict[str, Any]:
    """The books as an accountant reads them: the customer's A/R, the deposit account's movements, the
    income and the refund clearing account's balances (the simulator's general ledger)."""
    accounts = {a["Name"]: a["Id"] for a in await sims.acct_call("GET", "/_sim/accounts")}

    async def register(name: str) -> dict[str, Any]:
        return await sims.acct_call("GET", f"/_sim/accounts/{accounts[name]}/register")
    clearing = "Customer refunds clearing (billing-link)"
    return {
        "receivable": await sims.acct_call("GET", f"/_sim/customers/{customer_id}/receivable"),
        "deposits": [m["Amount"] for m in (await register("Undeposited Funds"))["Movements"]],
        "income": (await register("Services"))["Balance"],
        "clearing": (await register(clearing))["Balance"] if clearing in accounts else None,
    }


@pytest.fixture
async def world(infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all())
    payments = Payments(infra.kafka_bootstrap, names)
    await payments.producer.start()
    try:
        async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
            yield sims, api, payments, await numbered(sims, api)
    finally:
        await payments.producer.stop()


async def test_a_payment_is_applied_in_accounting_and_dates_the_psa_invoice_once_fully_paid(world):
    sims, api, payments, books = world
    await payments.publish(PaymentSucceeded, snapshot("p1"))
    await payments.publish(PaymentSucceeded, snapshot("p2", sale="400.00", applications={"autotask:503": "400.00"},
                                                      transaction_id="4002"))
    await settled(api, 2)
    recorded = {p["PaymentRefNum"]: p for p in await books_payments(sims)}
    assert set(recorded) == {"4001", "4002"}
    assert recorded["4001"]["TotalAmt"] == 500.0
    assert recorded["4001"]["Line"][0]["LinkedTxn"][0]["TxnId"] == books["autotask:501"]["Id"]
    assert "p1" in recorded["4001"]["PrivateNote"]
    invoices = {i["Id"]: i for i in await sims.acct_call("GET", "/_sim/invoices")}
    assert invoices[books["autotask:501"]["Id"]]["Balance"] == 0
    assert invoices[books["autotask:503"]["Id"]]["Balance"] == 600.0
    assert (await sims.psa_call("GET", "/_sim/invoices/501"))["paidDate"] is not None
    assert (await sims.psa_call("GET", "/_sim/invoices/503"))["paidDate"] is None  # 400 of 1000: not yet

    await payments.publish(PaymentSucceeded, snapshot("p3", sale="600.00", applications={"autotask:503": "600.00"},
                                                      transaction_id="4003"))
    await settled(api, 3)
    assert (await sims.psa_call("GET", "/_sim/invoices/503"))["paidDate"] is not None


async def test_replayed_payment_events_change_nothing(world):
    sims, api, payments, _ = world
    first = await payments.publish(PaymentSucceeded, snapshot("p1"))
    await settled(api, 1)
    before = await books_payments(sims)
    await payments.resend(first)  # the same message again: the inbox drops it
    again = PaymentSucceeded.new(producer="payments", organization_id="autotask:678", data=first.data,
                                 occurred_at=first.occurred_at)
    await payments.resend(again)  # the same snapshot under a new event id
    # (A snapshot arriving later in the partition is the newer one, whatever its `occurred_at` says:
    # see test_a_later_snapshot_wins_even_when_the_senders_clock_is_behind.)
    marker = await payments.publish(PaymentSucceeded, snapshot("p2", sale="300.00",
                                                               applications={"autotask:502": "300.00"},
                                                               transaction_id="4002"))
    await settled(api, 2)  # everything before the marker has been handled
    after = [p for p in await books_payments(sims) if p["PaymentRefNum"] != marker.data.transaction_id]
    assert after == before  # same payment, same SyncToken: not even an update
    rows = await api.call("GET", "/v1/sync/payment-writebacks", expect=200)
    assert [r["attempts"] for r in rows["items"]] == [0, 0]


async def test_cancel_voids_the_accounting_payment_and_clears_the_psa_paid_date(world):
    sims, api, payments, books = world
    await payments.publish(PaymentSucceeded, snapshot("p1"))
    await settled(api, 1)
    assert (await sims.psa_call("GET", "/_sim/invoices/501"))["paidDate"] is not None
    await payments.publish(PaymentCancelled, snapshot("p1", status="cancelled", sale="0.00", applied="0.00",
                                                      applications={}))
    await eventually(lambda: _voided(api, "p1"), timeout=30)
    [payment] = await books_payments(sims)
    assert payment["TotalAmt"] == 0 and payment["PrivateNote"] == "Voided"
    invoice = next(i for i in await sims.acct_call("GET", "/_sim/invoices") if i["Id"] == books["autotask:501"]["Id"])
    assert invoice["Balance"] == 500.0
    assert (await sims.psa_call("GET", "/_sim/invoices/501"))["paidDate"] is None
    # a late "succeeded" never revives it
    await payments.publish(PaymentSucceeded, snapshot("p1"))
    await payments.publish(PaymentSucceeded, snapshot("p2", sale="300.00", applications={"autotask:502": "300.00"},
                                                      transaction_id="4002"))
    await settled(api, 2)
    assert [p["TotalAmt"] for p in await books_payments(sims) if p["PaymentRefNum"] == "4001"] == [0]


async def _voided(api: SyncApi, payment_id: str) -> bool:
    items = await written_back(api)
    return any(i["payment_id"] == payment_id and i["accounting_voided"] for i in items)


async def test_void_unapply_then_apply_to_another_invoice_follows_the_ledger(world):
    sims, api, payments, books = world
    await payments.publish(PaymentSucceeded, snapshot("p1"))
    await settled(api, 1)
    await payments.publish(PaymentUnapplied, snapshot("p1", applied="0.00", unapplied="500.00", applications={}))

    async def unapplied():
        [payment] = await books_payments(sims)
        return payment if payment["UnappliedAmt"] == 500.0 and await written_back(api) else None
    payment = await eventually(unapplied, timeout=30)
    assert payment["Line"] == [] and payment["TotalAmt"] == 500.0
    assert (await sims.psa_call("GET", "/_sim/invoices/501"))["paidDate"] is None

    await payments.publish(PaymentApplied, snapshot("p1", applied="300.00", refund="200.00",
                                                    applications={"autotask:502": "300.00"},
                                                    refunds=({"amount": "200.00"},)))

    async def applied():
        [payment] = await books_payments(sims)
        return payment if payment["Line"] and await written_back(api) else None
    payment = await eventually(applied, timeout=30)
    # The payment keeps the sale; the 200.00 refunded is a refund receipt through the refund clearing account
    # and a journal entry closing the customer's 200.00 credit against it (test_sync_refund_receipts.py)
    assert (payment["TotalAmt"], payment["UnappliedAmt"]) == (500.0, 200.0)
    assert payment["Line"][0]["LinkedTxn"][0]["TxnId"] == books["autotask:502"]["Id"]
    assert [r["TotalAmt"] for r in await sims.acct_call("GET", "/_sim/refund-receipts")] == [200.0]
    books_now = await ledger(sims, payment["CustomerRef"]["value"])
    receivable = books_now["receivable"]
    assert (receivable["UnappliedPayments"], receivable["JournalEntries"]) == (200.0, 200.0)  # credit closed
    assert receivable["Balance"] == receivable["OpenInvoices"] == 1500.0  # 501 (open here) and 503, not B
    assert (books_now["deposits"], books_now["clearing"]) == ([500.0, -200.0], 0)
    assert books_now["income"] == 1800.0  # the three invoices' sales: the refund takes nothing from income
    assert (await sims.psa_call("GET", "/_sim/invoices/502"))["paidDate"] is not None
    assert len(await books_payments(sims)) == 1


async def test_a_crash_after_accounting_created_the_payment_makes_no_duplicate(world, database_url):
    sims, api, payments, books = world
    state = sims.accounting.app[SIM_STATE]
    customer = books["autotask:501"]["CustomerRef"]["value"]
    # What a crashed attempt left behind: the payment exists in accounting, sync only knows its intent.
    state.books.create("Payment", {
        "CustomerRef": {"value": customer}, "TotalAmt": "500.00", "PaymentRefNum": "4001",
        "PrivateNote": "billing-link payment p1; gateway transaction 4001",
        "Line": [{"Amount": "500.00", "LinkedTxn": [{"TxnId": books["autotask:501"]["Id"], "TxnType": "Invoice"}]}]})
    pool = await asyncpg.connect(database_url)
    await pool.execute(
        """INSERT INTO sync.payment_writebacks (payment_id, organization_id, desired, desired_at, intent_at)
           VALUES ('p1', 'autotask:678', $1::jsonb, now(), now())""", snapshot("p1").model_dump_json())
    await pool.execute("INSERT INTO sync.writeback_applications VALUES ('p1', 'autotask:501', 500, 0)")
    await pool.execute("SELECT pg_notify('sync_writeback', '')")
    await pool.close()
    [row] = await settled(api, 1)
    recorded = await books_payments(sims)
    assert len(recorded) == 1 and row["accounting_payment_id"] == recorded[0]["Id"]


async def test_accounting_failures_are_retried_until_the_payment_is_written(world):
    sims, api, payments, _ = world
    await sims.acct_call("POST", "/_sim/faults", {"path_contains": "/payment", "method": "POST", "status": 503,
                                                  "count": 2})
    await payments.publish(PaymentSucceeded, snapshot("p1"))

    async def failed_once():
        page = await api.call("GET", "/v1/sync/payment-writebacks", expect=200)
        return [i for i in page["items"] if i["last_error"]]
    [failing] = await eventually(failed_once, timeout=30)
    assert failing["pending"] and "503" in failing["last_error"]
    [row] = await settled(api, 1)
    assert row["last_error"] is None and row["attempts"] == 0
    assert len(await books_payments(sims)) == 1



async def test_a_later_snapshot_wins_even_when_the_senders_clock_is_behind(world):
    sims, api, payments, books = world
    sent = await payments.publish(PaymentSucceeded, snapshot("p1"))
    await settled(api, 1)
    assert (await sims.psa_call("GET", "/_sim/invoices/501"))["paidDate"] is not None
    # the cancel comes from a payments replica whose clock is five minutes behind the first one's
    cancelled = PaymentCancelled.new(
        producer="payments", organization_id="autotask:678",
        data=snapshot("p1", status="cancelled", sale="0.00", applied="0.00", applications={}),
        occurred_at=sent.occurred_at - timedelta(minutes=5))
    await payments.resend(cancelled)
    await eventually(lambda: _voided(api, "p1"), timeout=30)
    [payment] = await books_payments(sims)
    assert payment["TotalAmt"] == 0 and payment["PrivateNote"] == "Voided"
    assert (await sims.psa_call("GET", "/_sim/invoices/501"))["paidDate"] is None
    # and a later "succeeded" (whatever its clock) still never revives it
    await payments.publish(PaymentSucceeded, snapshot("p1"))
    await payments.publish(PaymentSucceeded, snapshot("p2", sale="300.00", applications={"autotask:502": "300.00"},
                                                      transaction_id="4002"))
    await settled(api, 2)
    assert [p["TotalAmt"] for p in await books_payments(sims) if p["PaymentRefNum"] == "4001"] == [0]


async def test_paid_partly_by_us_and_partly_elsewhere_is_paid_until_our_share_is_cancelled(world, infra,
                                                                                           topic_prefix):
    sims, api, payments, books = world
    names = TopicNames(topic_prefix)
    ours = snapshot("p1", sale="400.00", applications={"autotask:503": "400.00"})
    await payments.publish(PaymentSucceeded, ours)
    await settled(api, 1)
    invoice_503 = books["autotask:503"]["Id"]
    assert (await sims.acct_call("GET", f"/_sim/invoices/{invoice_503}"))["Balance"] == 600.0
    await sims.acct_call("POST", f"/_sim/invoices/{invoice_503}/pay-elsewhere", {"amount": "600.00"})
    assert (await api.run_to_end())["status"] == "completed"  # reads the balance back: 0

    async def statuses_of_503(count: int):
        records = await read_topic(infra.kafka_bootstrap, names(BILLING_INVOICES), count=3 + count - 1, settle=0.5)
        found = [json.loads(r.value)["data"] for r in records]
        found = [(d["status"], d["paid_on"], d["source_version"]) for d in found if d["invoice_id"] == "autotask:503"]
        return found if len(found) == count else None
    [first, paid] = await eventually(lambda: statuses_of_503(2), timeout=30)
    assert first[0] == "open" and paid[0] == "paid" and paid[1] is not None and paid[2] == first[2] + 1
    assert (await sims.psa_call("GET", "/_sim/invoices/503"))["paidDate"] is None  # not ours to date

    # our 400 is cancelled: voided in accounting, 400 is due again there, so it is open again here
    await payments.publish(PaymentCancelled, snapshot("p1", status="cancelled", sale="0.00", applied="0.00",
                                                      applications={}))
    await eventually(lambda: _voided(api, "p1"), timeout=30)
    assert (await sims.acct_call("GET", f"/_sim/invoices/{invoice_503}"))["Balance"] == 400.0
    [_, _, reopened] = await eventually(lambda: statuses_of_503(3), timeout=30)
    assert (reopened[0], reopened[1]) == ("open", None)


async def test_after_the_books_are_reset_a_cancel_never_voids_a_payment_that_is_not_ours(world):
    sims, api, payments, books = world
    await payments.publish(PaymentSucceeded, snapshot("p1"))
    [written] = await settled(api, 1)
    state = sims.accounting.app[SIM_STATE]
    # The books start again, and the accountant records a cheque: it gets the ids ours had
    await sims.acct_call("POST", "/_sim/reset", {})
    customer = state.books.create("Customer", {"DisplayName": "Acme Dental"})
    cheque_for = state.books.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [
        {"DetailType": "SalesItemLineDetail", "Amount": "80.00", "SalesItemLineDetail": {}}]})
    cheque = state.books.create("Payment", {
        "CustomerRef": {"value": customer["Id"]}, "TotalAmt": "50.00", "PaymentRefNum": "CHK-77",
        "Line": [{"Amount": "50.00", "LinkedTxn": [{"TxnId": cheque_for["Id"], "TxnType": "Invoice"}]}]})
    assert cheque["Id"] == written["accounting_payment_id"]

    await payments.publish(PaymentCancelled, snapshot("p1", status="cancelled", sale="0.00", applied="0.00",
                                                      applications={}))

    async def handled():
        items = await written_back(api)
        return items if items and items[0]["accounting_payment_id"] is None else None
    await eventually(handled, timeout=30)
    [kept] = await books_payments(sims)
    assert (kept["TotalAmt"], kept.get("PrivateNote"), kept["PaymentRefNum"]) == (50.0, None, "CHK-77")
    assert (await sims.acct_call("GET", f"/_sim/invoices/{cheque_for['Id']}"))["Balance"] == 30.0
