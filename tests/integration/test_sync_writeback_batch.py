"""Payment write-back through QuickBooks' batch API: a backlog of fresh payments is created 30 to a batch
request, oldest first; a crash after a batch was sent and before its answer was recorded makes no second
accounting payment (the batch goes again under the same requestid and gets the first answer); a payment
refused alone in a batch is the only one retried. The sync service runs in-process on the real broker and
database, against the simulators."""
from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from billing_sync.adapters import writeback_store
from billing_sync.adapters.writeback_store import Desired
from billing_sync.domain.writeback import live_applications
from billing_simulators.accounting.state import SIM_STATE
from tests.integration.test_sync_writeback import books_payments, settled, snapshot, world  # noqa: F401 - fixture
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)


async def backlog(database_url: str, count: int) -> list[str]:
    """`count` succeeded payments of 10.00 on invoice 503, recorded due at once (as the consumer records
    them, in one transaction): a backlog the write-back finds all together. Their ids sort in due order."""
    ids = [f"q{n:02d}" for n in range(1, count + 1)]
    snapshots = [snapshot(i, sale="10.00", applications={"autotask:503": "10.00"}, transaction_id=f"50{n:02d}")
                 for n, i in enumerate(ids, start=1)]
    conn = await asyncpg.connect(database_url, server_settings={"search_path": "sync"})
    try:
        async with conn.transaction():
            await writeback_store.record_desired(conn, [
                Desired(s.payment_id, s.organization_id, s, datetime.now(UTC), live_applications(s), s)
                for s in snapshots])
    finally:
        await conn.close()
    return ids


async def requests(sims) -> dict:
    return (await sims.acct_call("GET", "/_sim/requests"))["counts"]


def by_payment(recorded: list[dict]) -> dict[str, list[dict]]:
    """Our payment id -> the accounting payments that carry its marker, in the order accounting made them."""
    found: dict[str, list[dict]] = {}
    for payment in sorted(recorded, key=lambda p: int(p["Id"])):
        found.setdefault(payment["PrivateNote"].split(";")[0].rsplit(" ", 1)[1], []).append(payment)
    return found


async def test_a_backlog_is_written_30_payments_a_batch_request_oldest_first(world, database_url):
    sims, api, _, books = world
    await sims.acct_call("DELETE", "/_sim/requests")
    ids = await backlog(database_url, 45)

    rows = await settled(api, 45)

    counts = await requests(sims)
    assert counts["batch"] == {"POST": math.ceil(45 / 30)}
    assert "Payment" not in counts and "Invoice" not in counts  # no single create, no per-invoice GET
    assert counts["query"]["GET"] <= 2 * 2 + 1  # per batch: its links verified, its new balances read back
    made = by_payment(await books_payments(sims))
    assert sorted(made) == ids and all(len(m) == 1 for m in made.values())
    assert [i for i, _ in sorted(made.items(), key=lambda kv: int(kv[1][0]["Id"]))] == ids  # oldest first
    assert {r["payment_id"]: r["accounting_payment_id"] for r in rows} == {i: m[0]["Id"] for i, m in made.items()}
    invoice_503 = await sims.acct_call("GET", f"/_sim/invoices/{books['autotask:503']['Id']}")
    assert invoice_503["Balance"] == 1000.0 - 450.0
    conn = await asyncpg.connect(database_url)
    try:  # the new balance was read back: no stale balance stays linked
        balance = await conn.fetchval("SELECT balance FROM sync.accounting_invoices WHERE invoice_id = 'autotask:503'")
    finally:
        await conn.close()
    assert balance == Decimal("550.00")


async def test_a_crash_after_a_batch_was_sent_and_before_it_was_recorded_makes_no_second_payment(
        world, database_url, monkeypatch):
    sims, api, _, _ = world
    recorded = writeback_store.record_batch
    crashes: list[str] = []

    async def crash_once(conn, batch_key, created):
        if not crashes:  # the batch was answered, and this leader dies before recording the answer
            crashes.append(batch_key)
            raise ConnectionResetError("the leader lost its database mid-batch")
        await recorded(conn, batch_key, created)
    monkeypatch.setattr(writeback_store, "record_batch", crash_once)
    await sims.acct_call("DELETE", "/_sim/requests")
    ids = await backlog(database_url, 5)

    rows = await settled(api, 5)

    made = by_payment(await books_payments(sims))
    assert sorted(made) == ids and all(len(m) == 1 for m in made.values())  # one accounting payment each
    assert {r["payment_id"]: r["accounting_payment_id"] for r in rows} == {i: m[0]["Id"] for i, m in made.items()}
    assert (await requests(sims))["batch"] == {"POST": 2}  # sent, then sent again and answered as before
    assert crashes and crashes[0] in sims.accounting.app[SIM_STATE].answered
    conn = await asyncpg.connect(database_url)
    assert await conn.fetchval("SELECT count(*) FROM sync.payment_writebacks WHERE batch_key IS NOT NULL") == 0
    await conn.close()


async def test_a_payment_refused_alone_in_a_batch_is_the_only_one_retried(world, database_url):
    sims, api, _, _ = world
    await sims.acct_call("DELETE", "/_sim/requests")
    await sims.acct_call("POST", "/_sim/faults", {"path_contains": "batch/payment#q03", "status": 400,
                                                  "code": "6000", "count": 1})
    ids = await backlog(database_url, 6)

    await settled(api, 6)

    made = by_payment(await books_payments(sims))
    assert sorted(made) == ids and all(len(m) == 1 for m in made.values())
    in_order = [i for i, _ in sorted(made.items(), key=lambda kv: int(kv[1][0]["Id"]))]
    assert in_order == [i for i in ids if i != "q03"] + ["q03"]  # the others at once, q03 on its retry
    assert (await requests(sims))["batch"] == {"POST": 2}
    assert (await sims.acct_call("GET", "/_sim/requests"))["faults_injected"] == 1
