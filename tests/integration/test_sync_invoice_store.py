"""Sync's invoice mirror in SQL: the version rule, voids, and invoice lines stored as JSON values."""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from billing_shared.db import create_pool
from billing_shared.migrations import migrate
from billing_sync.adapters import psa_invoice_store
from billing_sync.adapters.invoice_store import upsert_invoices, upsert_upstream, void_invoices
from billing_sync.adapters.psa_invoice_store import LinkUpdate
from billing_sync.domain.invoices import InvoiceRecord, VoidRequest
from billing_sync.domain.psa import PsaInvoice

pytestmark = pytest.mark.timeout(60)

LINE = {"description": "Managed services", "quantity": "1", "unit_price": "250.00", "amount": "250.00"}


def record(external_id: str, version: int = 1, lines: tuple = ()) -> InvoiceRecord:
    return InvoiceRecord(
        invoice_id=f"autotask:{external_id}", organization_id="autotask:678", source="autotask",
        external_id=external_id, version=version, invoice_number="1042", status="open", currency="USD",
        total=Decimal("500.00"), issued_on=date(2026, 11, 1), due_on=None, paid_on=None, pdf_url=None, lines=lines,
    )


@pytest.fixture
async def pool(database_url):
    pool = await create_pool(database_url, "sync")
    await migrate(pool, "sync", "billing_sync")
    yield pool
    await pool.close()


async def test_invoices_keep_zero_one_or_many_lines_as_given(pool):
    async with pool.acquire() as conn:
        stored = await upsert_invoices(conn, [record("1"), record("2", lines=(LINE,)), record("3", lines=(LINE, LINE))])
    assert [len(r.lines) for r in stored] == [0, 1, 2]
    rows = await pool.fetch("SELECT invoice_id, lines FROM invoices ORDER BY invoice_id")
    assert [r["lines"] for r in rows] == [[], [LINE], [LINE, LINE]]


async def test_a_version_not_newer_than_the_stored_one_is_ignored(pool):
    async with pool.acquire() as conn:
        await upsert_invoices(conn, [record("1", version=3)])
        assert await upsert_invoices(conn, [replace(record("1", version=3), total=Decimal("1.00"))]) == []
        assert await upsert_invoices(conn, [replace(record("1", version=2), total=Decimal("1.00"))]) == []
        [newer] = await upsert_invoices(conn, [replace(record("1", version=4), total=Decimal("450.00"))])
    assert (newer.version, newer.total) == (4, Decimal("450.00"))
    assert await pool.fetchval("SELECT total FROM invoices") == Decimal("450.00")


async def test_upstream_records_come_back_with_the_version_and_number_the_store_gave_them(pool):
    """upsert_upstream reads back only the version and number (not whole rows): what it returns must still be the
    invoice as stored, since those are the snapshots published."""
    unnumbered = replace(record("1", version=2), invoice_number=None)
    async with pool.acquire() as conn:
        await psa_invoice_store.upsert_links(conn, "realm-1", [LinkUpdate("autotask:1", "acc-1", "INV-77", None, "USD",
                                                                          Decimal("500.00"), Decimal("500.00"))])
        [first] = await upsert_upstream(conn, [unnumbered])
        assert (first.version, first.invoice_number) == (2, "INV-77")  # the number accounting gave it
        await upsert_invoices(conn, [replace(first, version=5)])  # sync published versions of its own since
        stored = await upsert_upstream(conn, [replace(unnumbered, version=3), record("2", version=1),
                                              replace(unnumbered, version=1, external_id="3", invoice_id="autotask:3")])
        assert await upsert_upstream(conn, [replace(unnumbered, version=3)]) == []  # not newer: nothing stored
    assert [(r.invoice_id, r.version, r.invoice_number, r.total) for r in stored] == [
        ("autotask:1", 6, "INV-77", Decimal("500.00")), ("autotask:2", 1, "1042", Decimal("500.00")),
        ("autotask:3", 1, None, Decimal("500.00"))]
    rows = await pool.fetch("SELECT invoice_id, version, invoice_number FROM invoices ORDER BY invoice_id")
    assert [tuple(r) for r in rows] == [(r.invoice_id, r.version, r.invoice_number) for r in stored]


async def test_voids_apply_only_to_known_invoices_with_a_newer_version(pool):
    async with pool.acquire() as conn:
        await upsert_invoices(conn, [record("1", version=3), record("2", version=1)])
        voided = await void_invoices(conn, [VoidRequest("autotask:1", 3), VoidRequest("autotask:2", 2),
                                            VoidRequest("autotask:404", 9)])
    assert [(r.invoice_id, r.status, r.version) for r in voided] == [("autotask:2", "voided", 2)]


async def test_composing_after_waiting_for_the_lock_reads_the_link_the_holder_committed(pool):
    """A statement that waits for a row lock reads the other tables from its snapshot before the wait (READ
    COMMITTED): composing must read the accounting link only once it holds the PSA invoice's lock."""
    invoice = PsaInvoice("autotask:7001", 7001, "autotask:678", None, Decimal("75.00"), date(2026, 11, 1), None,
                         False, None, None)
    async with pool.acquire() as conn:
        await psa_invoice_store.upsert(conn, [invoice])
    link = LinkUpdate(invoice.invoice_id, "qbo-7001", "1042", "c1", "USD", Decimal("75.00"), Decimal("75.00"), None)
    async with pool.acquire() as holder, pool.acquire() as waiter:
        async with holder.transaction():
            assert (await psa_invoice_store.compose_inputs(holder, [invoice.invoice_id]))[0].link is None
            await psa_invoice_store.upsert_links(holder, "realm-1", [link])

            async def compose():
                async with waiter.transaction():
                    return await psa_invoice_store.compose_inputs(waiter, [invoice.invoice_id])

            waiting = asyncio.create_task(compose())
            while not await pool.fetchval("SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                                          holder.get_server_pid()):
                await asyncio.sleep(0.02)
        [seen] = await asyncio.wait_for(waiting, 10)
    assert seen.link is not None and seen.link.doc_number == "1042"
