"""Refunds in accounting (issue 12, item 4): the accounting payment keeps the sale, each refund that stands
is one QuickBooks RefundReceipt against the customer through the refund clearing account and one journal entry
closing the customer's credit against that account, each written once (found by its marker before a create),
and both removed when the refund fails or the payment is cancelled. Sync runs in-process on the real broker and
database, against the simulators; the simulator's general ledger says whether the books are right."""
from __future__ import annotations

import json

import asyncpg
import pytest

from billing_shared.events.payments import PaymentApplied, PaymentCancelled, PaymentRefunded, PaymentSucceeded
from billing_simulators.accounting.state import SIM_STATE
from tests.integration import test_sync_writeback as writeback
from tests.integration.test_sync_writeback import books_payments, ledger, snapshot, written_back
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)

world = writeback.world  # the fixture: numbered invoices 501, 502, 503 and a payments publisher

REFUND = {"amount": "200.00", "transaction_id": "5001"}


async def handled(database_url: str) -> dict | None:
    """p1's newest snapshot once the worker has written it back (None while it has not)."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT desired, desired_seq <= done_seq AS done FROM sync.payment_writebacks "
                                  "WHERE payment_id = 'p1'")
    finally:
        await conn.close()
    return json.loads(row["desired"]) if row is not None and row["done"] else None


async def receipts(sims) -> list[dict]:
    return await sims.acct_call("GET", "/_sim/refund-receipts")


async def journal_entries(sims) -> list[dict]:
    return await sims.acct_call("GET", "/_sim/journal-entries")


def void_in_the_books(sims, invoice: dict) -> None:
    books = sims.accounting.app[SIM_STATE].books
    books.void("Invoice", {"Id": invoice["Id"], "SyncToken": books.get("Invoice", invoice["Id"])["SyncToken"]})


async def written(api, sims, check):
    async def done():
        if not await written_back(api):
            return None
        return await check()
    return await eventually(done, timeout=30)


async def test_a_refund_is_one_refund_receipt_and_the_payment_keeps_the_sale(world, database_url):
    sims, api, payments, books = world
    await payments.publish(PaymentSucceeded, snapshot("p1"))
    await payments.publish(PaymentApplied, snapshot("p1", applied="300.00", refund="200.00",
                                                    applications={"autotask:502": "300.00"}, refunds=(REFUND,)))

    async def one_receipt():
        found = await receipts(sims)
        return found if len(found) == 1 else None
    [receipt] = await written(api, sims, one_receipt)
    [payment] = await books_payments(sims)
    assert (payment["TotalAmt"], payment["UnappliedAmt"]) == (500.0, 200.0)
    assert payment["Line"] == [{"Amount": 300.0, "LinkedTxn": [{"TxnId": books["autotask:502"]["Id"],
                                                                "TxnType": "Invoice"}]}]
    assert receipt["TotalAmt"] == 200.0 and receipt["CustomerRef"]["value"] == payment["CustomerRef"]["value"]
    assert receipt["DepositToAccountRef"]["value"] == payment["DepositToAccountRef"]["value"]
    assert receipt["TxnDate"] == "2026-11-27"
    assert "billing-link refund 1 of payment p1;" in receipt["PrivateNote"]
    accounts = {a["Name"]: a for a in await sims.acct_call("GET", "/_sim/accounts")}
    clearing = accounts["Customer refunds clearing (billing-link)"]
    item = next(i for i in await sims.acct_call("GET", "/_sim/items") if i["Name"] == "Customer refund (billing-link)")
    assert (clearing["AccountType"], item["IncomeAccountRef"]["value"]) == ("Other Current Liability", clearing["Id"])
    assert receipt["Line"][0]["SalesItemLineDetail"]["ItemRef"]["value"] == item["Id"]
    [entry] = await journal_entries(sims)
    assert "billing-link refund 1 of payment p1;" in entry["PrivateNote"] and entry["TxnDate"] == "2026-11-27"
    debit, credit = (line["JournalEntryLineDetail"] for line in entry["Line"])
    receivable = accounts["Accounts Receivable (A/R)"]
    assert (debit["PostingType"], debit["AccountRef"]["value"]) == ("Debit", receivable["Id"])
    assert debit["Entity"]["EntityRef"]["value"] == payment["CustomerRef"]["value"]
    assert (credit["PostingType"], credit["AccountRef"]["value"]) == ("Credit", clearing["Id"])
    # DOMAIN.md's worked example: A (501) was voided, B (502) paid by 300 of P1, 200 refunded (503 is not in it)
    void_in_the_books(sims, books["autotask:501"])
    void_in_the_books(sims, books["autotask:503"])
    customer = await ledger(sims, payment["CustomerRef"]["value"])
    assert customer["receivable"]["Balance"] == 0  # no open credit, nothing owed
    assert (await sims.acct_call("GET", f"/_sim/invoices/{books['autotask:502']['Id']}"))["Balance"] == 0
    assert (customer["deposits"], customer["clearing"], customer["income"]) == ([500.0, -200.0], 0, 300.0)

    # Written again (a later snapshot of the same payment): the receipt is found by its marker, not made again
    again = snapshot("p1", applied="300.00", refund="200.00", applications={"autotask:502": "300.00"},
                     refunds=(REFUND,)).model_copy(update={"contact_id": "autotask:902"})
    await payments.publish(PaymentApplied, again)

    async def contact_seen():
        done = await handled(database_url)
        return done is not None and done["contact_id"] == "autotask:902"
    await eventually(contact_seen, timeout=30)
    assert [r["Id"] for r in await receipts(sims)] == [receipt["Id"]]
    assert [e["Id"] for e in await journal_entries(sims)] == [entry["Id"]]

    # A second refund (the rest, refunded in full) is a second receipt; the first stays as it is
    await payments.publish(PaymentRefunded, snapshot(
        "p1", sale="500.00", applied="0.00", refund="500.00", applications={},
        refunds=(REFUND, {"amount": "300.00", "transaction_id": "5002", "at": "2026-11-28T09:00:00Z"})))

    async def two_receipts():
        found = await receipts(sims)
        return found if len(found) == 2 else None
    first, second = await written(api, sims, two_receipts)
    assert (first["Id"], second["TotalAmt"], second["TxnDate"]) == (receipt["Id"], 300.0, "2026-11-28")
    assert "billing-link refund 2 of payment p1;" in second["PrivateNote"]
    [payment] = await books_payments(sims)
    assert (payment["TotalAmt"], payment["UnappliedAmt"], payment["Line"]) == (500.0, 500.0, [])
    assert [e["TotalAmt"] for e in await journal_entries(sims)] == [200.0, 300.0]
    customer = await ledger(sims, payment["CustomerRef"]["value"])
    assert (customer["receivable"]["UnappliedPayments"], customer["receivable"]["JournalEntries"]) == (500.0, 500.0)
    assert (customer["deposits"], customer["clearing"]) == ([500.0, -200.0, -300.0], 0)


async def test_a_cancel_voids_the_payment_and_removes_its_refund_receipts(world):
    sims, api, payments, _ = world
    await payments.publish(PaymentSucceeded, snapshot("p1"))
    await payments.publish(PaymentApplied, snapshot("p1", applied="300.00", refund="200.00",
                                                    applications={"autotask:502": "300.00"}, refunds=(REFUND,)))

    async def one_receipt():
        return await receipts(sims) or None
    await written(api, sims, one_receipt)
    # The ledger shows a cancelled payment's sale and refund as 0.00; its rows stay for audit
    await payments.publish(PaymentCancelled, snapshot("p1", status="cancelled", sale="500.00", applied="0.00",
                                                      applications={}, refunds=(REFUND,)))

    async def reversed_():
        [payment] = await books_payments(sims)
        return payment if payment["TotalAmt"] == 0 and not await receipts(sims) else None
    payment = await written(api, sims, reversed_)
    assert payment["PrivateNote"].startswith("Voided")
    assert await journal_entries(sims) == []
    customer = await ledger(sims, payment["CustomerRef"]["value"])
    assert (customer["receivable"]["UnappliedPayments"], customer["receivable"]["JournalEntries"]) == (0, 0)
    assert (sum(customer["deposits"]), customer["clearing"]) == (0, 0)  # nothing received, nothing paid back


async def test_a_refund_that_failed_has_no_refund_receipt(world, database_url):
    sims, api, payments, _ = world
    await payments.publish(PaymentSucceeded, snapshot("p1", sale="500.00", applied="0.00", unapplied="500.00",
                                                      applications={}))
    await payments.publish(PaymentRefunded, snapshot("p1", applied="0.00", refund="500.00", applications={},
                                                     refunds=({"amount": "500.00"},)))

    async def one_receipt():
        return await receipts(sims) or None
    await written(api, sims, one_receipt)
    # The refund failed at settlement: it never reached the client, so the books show none
    await payments.publish(PaymentRefunded, snapshot("p1", applied="0.00", unapplied="500.00", applications={},
                                                     refunds=({"amount": "500.00", "failure_reason": "returned"},)))

    async def none_left():
        done = await handled(database_url)
        failed = done is not None and done["transactions"][1]["failure_reason"] == "returned"
        return failed and not await receipts(sims)
    await eventually(none_left, timeout=30)
    [payment] = await books_payments(sims)
    assert (payment["TotalAmt"], payment["UnappliedAmt"]) == (500.0, 500.0)
    assert await journal_entries(sims) == []  # the credit stays the customer's: the money was never paid back
    customer = await ledger(sims, payment["CustomerRef"]["value"])
    assert customer["receivable"]["UnappliedPayments"] == 500.0
    assert (customer["deposits"], customer["clearing"]) == ([500.0], 0)
