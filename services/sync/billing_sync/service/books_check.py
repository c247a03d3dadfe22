"""Sync's half of three-way reconciliation: check the books (QuickBooks Online) and the PSA against the
ledger as sync knows it, and answer each `reconciliation.requested` with ONE `reconciliation.books_checked`.

The consumer only records a request (the inbox drops a repeated event; the run id drops a second event
for the same run) or a re-send (its payment's write-back is queued again in the same transaction). The
work is done outside any handler by one leader among the replicas (session advisory lock, as the
write-back worker): reading accounting and the PSA takes long. A request stays `pending` until its answer
is written to the outbox in the transaction that marks it done, so a crash mid-check checks it again and
the answer is published once. The books not readable (QuickBooks not connected, or failing after a few
tries) is answered too, with `failure` set: payments waits for this answer.

A re-send writes nothing but the ledger's state: the payment's write-back reconciles accounting from
scratch (a deleted payment is created again, an edited one updated, a live one of a cancelled payment
voided), and here the PSA paid dates of its invoices are written again. Never money moved.
Rules of comparison: domain/reconciliation.py.
"""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime

import asyncpg
import structlog

from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.events.reconciliation import (
    BooksChecked, BooksCheckedData, DriftData, ReconciliationRequested, WritebackResendRequested,
)
from billing_shared.leadership import lead_forever
from billing_shared.outbox import Tx
from billing_shared.psa import F

from billing_sync.adapters import psa_invoice_store
from billing_sync.adapters import reconciliation_store as store
from billing_sync.adapters.accounting import Accounting
from billing_sync.adapters.psa import INVOICE_FIELDS, PsaSource
from billing_sync.adapters.reconciliation_store import Request, Resend
from billing_sync.domain.accounting_links import same_object
from billing_sync.domain.psa import parse_date
from billing_sync.domain.reconciliation import (
    capped, ours, paid_elsewhere_drift, payment_drift, psa_drift, psa_paid_date_to_write,
)
from billing_sync.service.deps import Deps
from billing_sync.service.publishing import PRODUCER, PublishPolicy, republish
from billing_sync.service.runs import SYSTEM_ORGANIZATION

log = structlog.get_logger(__name__)

LOCK = "sync-books-check"
BATCH = 10
TRIES = 3  # a request the books failed to answer this many times is answered with `failure`
PAGE = 500
PSA_PAGE = 500


class BooksUnreadable(Exception):
    """The books cannot be checked at all (not connected): answered at once, with the reason."""


async def on_reconciliation_requested(tx: Tx, event: ReconciliationRequested) -> None:
    await store.record_request(tx.conn, event.data)


async def on_writeback_resend_requested(tx: Tx, event: WritebackResendRequested) -> None:
    await store.record_resend(tx.conn, event.event_id, event.data)


class BooksCheckWorker:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.wake = asyncio.Event()

    async def run(self) -> None:
        poll = self.deps.config.scheduler_tick_seconds

        async def work() -> bool:
            await self.work()
            return False

        await lead_forever(self.deps.pool, lock=LOCK, channel=store.CHANNEL, work=work, wake=self.wake,
                           idle_seconds=poll, standby_seconds=poll * 2, name="books check")

    async def work(self) -> None:
        for resend in await store.due_resends(self.deps.pool, BATCH):
            await self._resend(resend)
        for request in await store.due_requests(self.deps.pool, BATCH):
            await self._check(request)

    def _delay(self, attempts: int) -> float:
        s = self.deps.config
        return min(s.writeback_retry_max_seconds, s.writeback_retry_seconds * 2 ** attempts)

    async def _check(self, request: Request) -> None:
        try:
            data = await check_books(self.deps, request)
        except asyncio.CancelledError:
            raise
        except BooksUnreadable as exc:
            data = _failed(request, str(exc))
        except Exception as exc:  # noqa: BLE001 - tried again, then answered with the reason
            reason = f"{type(exc).__name__}: {exc}"
            if request.attempts + 1 < TRIES:
                log.warning("books check failed; will retry", run_id=request.run_id, error=reason[:300])
                await store.retry_request(self.deps.pool, request.run_id, reason, self._delay(request.attempts))
                return
            data = _failed(request, f"The books could not be read after {TRIES} tries: {reason}"[:2000])
        async with self.deps.uow.begin() as tx:
            if await store.finish_request(tx.conn, request.run_id):
                tx.publish(BILLING_SYNC, BooksChecked.new(producer=PRODUCER, organization_id=SYSTEM_ORGANIZATION,
                                                          data=data))
        log.info("books checked", run_id=request.run_id, drifts=len(data.drifts), failure=data.failure)

    async def _resend(self, resend: Resend) -> None:
        try:
            await rewrite_paid_dates(self.deps, resend)
            await store.finish_resend(self.deps.pool, resend.event_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - kept and retried later, never lost
            reason = f"{type(exc).__name__}: {exc}"
            log.warning("write-back re-send failed; will retry", drift_id=resend.drift_id, error=reason[:300])
            await store.retry_resend(self.deps.pool, resend.event_id, reason, self._delay(resend.attempts))


def _failed(request: Request, reason: str) -> BooksCheckedData:
    return BooksCheckedData(run_id=request.run_id, checked_at=datetime.now(UTC), payments_checked=0,
                            invoices_checked=0, failure=reason)


async def check_books(deps: Deps, request: Request) -> BooksCheckedData:
    connected = await deps.connections.quickbooks()
    if connected is None:
        raise BooksUnreadable("QuickBooks is not connected, so the books could not be checked.")
    accounting = connected.client
    pool = deps.pool
    payments = await store.payments_in_period(pool, request.period_start, request.period_end)
    done = [p for p in payments if p.done]
    drifts: list[DriftData] = []
    applied = sorted({i for p in done for i in p.applications})
    linked = {i: link.accounting_id
              for i, link in (await psa_invoice_store.current_links(pool, accounting.realm_id, applied)).items()}
    found = await accounting.by_ids("Payment", [p.accounting_payment_id for p in done if p.accounting_payment_id])
    for payment in done:
        current = found.get(payment.accounting_payment_id or "")
        drift = payment_drift(payment, current if current is not None and ours(current, payment) else None, linked)
        if drift is not None:
            drifts.append(drift)
    checked, paid_elsewhere = await _paid_elsewhere(pool, accounting, drifts)
    connected_psa = await deps.connections.autotask()
    if connected_psa is not None:
        touched = sorted({i for p in done for i in p.touched})
        lagging = await store.lagging_invoices(pool, touched)
        invoices = await store.psa_invoices(pool, [i for i in touched if i not in lagging])
        live = await psa_paid_dates(connected_psa.client, [external for _, external in invoices])
        for invoice, external in invoices:
            if external not in live:
                continue  # gone from the PSA: nothing there to date
            checked.add(invoice.invoice_id)
            invoice = replace(invoice, paid_elsewhere=invoice.paid_elsewhere or invoice.invoice_id in paid_elsewhere)
            drift = psa_drift(invoice, live[external])
            if drift is not None:
                drifts.append(drift)
    kept, truncated = capped(drifts)
    lag = len(payments) - len(done)
    if lag:
        log.info("payments whose write-back is still under way left out of the books check", count=lag,
                 run_id=request.run_id)
    return BooksCheckedData(run_id=request.run_id, checked_at=datetime.now(UTC), payments_checked=len(done),
                            invoices_checked=len(checked), drifts=kept, truncated=truncated)


async def _paid_elsewhere(pool: asyncpg.Pool, accounting: Accounting, drifts: list[DriftData]) -> tuple[set[str], set[str]]:
    """Every invoice published open with money still to collect, against accounting's balance read now.
    Returns the invoices checked and those accounting shows paid by other means."""
    checked: set[str] = set()
    paid: set[str] = set()
    after = ""
    while True:
        page = await store.open_linked_invoices(pool, accounting.realm_id, after, PAGE)
        if not page:
            break
        after = page[-1][0].invoice_id
        candidates = [item for item in page if item[0].open_amount > 0]
        objects = await accounting.by_ids("Invoice", [accounting_id for _, accounting_id, _ in candidates])
        for invoice, accounting_id, created in candidates:
            obj = objects.get(accounting_id)
            if obj is None or not same_object(invoice.invoice_id, created, obj):
                continue  # gone from these books: the next run retires the link
            checked.add(invoice.invoice_id)
            drift = paid_elsewhere_drift(invoice, obj)
            if drift is not None:
                drifts.append(drift)
                paid.add(invoice.invoice_id)
        if len(page) < PAGE:
            break
    return checked, paid


async def psa_paid_dates(psa: PsaSource, external_ids: Sequence[int]) -> dict[int, date | None]:
    """The paid date each PSA invoice shows now (absent: no such invoice)."""
    dates: dict[int, date | None] = {}
    ids = sorted(set(external_ids))
    for start in range(0, len(ids), PSA_PAGE):
        async for page in psa.pages("Invoices", [F.in_("id", ids[start:start + PSA_PAGE])], None, INVOICE_FIELDS):
            for row in page:
                dates[int(row["id"])] = parse_date(row.get("paidDate"))
    return dates


async def rewrite_paid_dates(deps: Deps, resend: Resend) -> None:
    """The PSA paid dates of the re-sent payment's invoices (and of the invoice named), from the ledger."""
    pool = deps.pool
    invoice_ids = set(await store.payment_invoices(pool, resend.payment_id)) if resend.payment_id else set()
    if resend.invoice_id:
        invoice_ids.add(resend.invoice_id)
    connected = await deps.connections.autotask()
    if connected is None or not invoice_ids:
        return
    invoices = await store.psa_invoices(pool, sorted(invoice_ids))
    live = await psa_paid_dates(connected.client, [external for _, external in invoices])
    today = datetime.now(UTC).date()
    written = []
    for invoice, external in invoices:
        if external not in live:
            continue
        write, paid_on = psa_paid_date_to_write(invoice, live[external], today)
        if write:
            await connected.client.write_invoice(external, {"paidDate": paid_on.isoformat() if paid_on else None})
            await psa_invoice_store.record_paid_date(pool, invoice.invoice_id, paid_on)
            written.append(invoice.invoice_id)
    if written:
        log.info("PSA paid dates written again", drift_id=resend.drift_id, invoices=written)
        policy = PublishPolicy(await deps.connections.quickbooks() is not None, connected.settings.currency, today)
        async with deps.uow.begin() as tx:
            await republish(tx, written, policy)
