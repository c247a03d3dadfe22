"""Three-way reconciliation runs (issue 12): started on demand or nightly, the gateway part checked here,
the books part (accounting, PSA) answered by sync, the report completed and announced once both are in.

Every replica runs the worker; a run's gateway check is leased to one of them at a time (a crashed
replica's lease runs out and another takes it), the nightly run exists once per night (a unique index),
and a part is recorded once (the run's row lock and its state). Repairs never move money: a books drift
asks sync to write the ledger's state again; a sale the ledger lost while pending is recorded through the
reconciler's own path; anything else is explained by a person with a note.
"""
from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta

import asyncpg
import structlog

from billing_shared.events.catalog import BILLING_PAYMENTS
from billing_shared.events.reconciliation import (
    BOOKS_DRIFT_CODES,
    BooksCheckedData,
    DriftData,
    ReconciliationCompleted,
    ReconciliationCompletedData,
    ReconciliationRequested,
    ReconciliationRequestedData,
    WritebackResendRequested,
    WritebackResendRequestedData,
)
from billing_shared.outbox import Tx

from billing_payments.adapters import payment_store
from billing_payments.adapters import reconciliation_store as store
from billing_payments.adapters.gateway import GatewayError, GatewayTransaction
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.reconciliation import AtGateway, check_gateway
from billing_payments.service.deps import Deps
from billing_payments.service.reconciler import sale_outcome
from billing_payments.service.resolving import resolve_pending

log = structlog.get_logger(__name__)

PRODUCER = "payments"
SYSTEM_ORGANIZATION = "system"
# A books drift that sync can clear by writing the ledger's state to accounting and the PSA again.
RESENDABLE = frozenset(BOOKS_DRIFT_CODES) - {"paid_elsewhere_while_open"}
NOT_REPAIRABLE = {
    "ledger_sale_not_at_gateway": "the sale does not stand at the gateway: cancel the payment in the ledger if "
                                  "the client was not charged, then explain the drift",
    "gateway_amount_differs": "amounts at the gateway are not changed from here: settle the difference in the "
                              "gateway, then explain the drift",
    "paid_elsewhere_while_open": "the invoice was paid by other means: record that in accounting's way or void "
                                 "the invoice, then explain the drift",
    "gateway_sale_unknown_to_ledger": "no pending payment of the ledger can take this sale: void or refund it in "
                                      "the gateway by hand if it was not meant, then explain the drift",
}


def day_bounds(first: datetime, last: datetime) -> tuple[datetime, datetime]:
    """[first day's midnight, the day after the last day's midnight), UTC."""
    start = datetime.combine(first.date(), time(), UTC)
    return start, datetime.combine(last.date(), time(), UTC) + timedelta(days=1)


async def start_run(deps: Deps, *, trigger: str, start: datetime, end: datetime,
                    requested_by: str | None) -> uuid.UUID | None:
    """Record the run and ask sync for the books part, in one transaction. None: tonight's run exists."""
    run_id = uuid.uuid4()
    async with deps.uow.begin() as tx:
        if not await store.insert_run(tx.conn, run_id, trigger, start, end, requested_by):
            return None
        tx.publish(BILLING_PAYMENTS, ReconciliationRequested.new(
            producer=PRODUCER, organization_id=SYSTEM_ORGANIZATION,
            data=ReconciliationRequestedData(run_id=str(run_id), trigger=trigger,  # type: ignore[arg-type]
                                             period_start=start, period_end=end)))
    log.info("reconciliation started", run_id=str(run_id), trigger=trigger, start=start.isoformat(),
             end=end.isoformat())
    return run_id


async def schedule_nightly(deps: Deps, now: datetime) -> uuid.UUID | None:
    """Last night's run, once the configured hour has passed (once however many replicas ask)."""
    c = deps.config
    if not c.reconciliation_nightly_enabled or now.hour < c.reconciliation_nightly_hour_utc:
        return None
    if not (await deps.settings()).private_key:
        return None  # no gateway yet, so no payment to reconcile: no nightly report (nor a nightly ticket) to say so
    yesterday = now - timedelta(days=1)
    start, end = day_bounds(yesterday, yesterday)
    if await store.nightly_exists(deps.pool, start):
        return None
    return await start_run(deps, trigger="nightly", start=start, end=end, requested_by="schedule")


def _at_gateway(t: GatewayTransaction) -> AtGateway:
    return AtGateway(t.transaction_id, t.order_id, t.kind, t.amount, t.approved, t.condition,
                     t.original_transaction_id)


async def gateway_drifts(deps: Deps, start: datetime, end: datetime) -> tuple[list[DriftData], dict[str, int]]:
    """The ledger's payments of the period and the gateway's transactions of the period, each completed by
    what the other side names (a payment's refund made later, a refund in the period of an older sale)."""
    gateway = deps.gateway(await deps.settings())
    found = {t.transaction_id: t for t in await gateway.transactions_between(start, end - timedelta(seconds=1))}
    payments = {p.payment_id: p for p in await payment_store.made_between(deps.pool, start, end)}
    named = {t.order_id for t in found.values() if t.order_id and t.order_id not in payments}
    payments.update({p.payment_id: p for p in await payment_store.load_many(deps.pool, sorted(named))})
    for p in payments.values():
        needed = {p.transaction_id, *(t.transaction_id for t in p.transactions)} - {None}
        if needed - found.keys() or p.payment_id in named:
            found.update({t.transaction_id: t for t in await gateway.find_by_order_id(p.payment_id)})
    drifts = check_gateway(payments.values(), map(_at_gateway, found.values()), now=datetime.now(UTC),
                           in_flight=timedelta(seconds=deps.config.pending_grace))
    return drifts, {"payments": len(payments), "gateway_transactions": len(found)}


async def check_gateway_once(deps: Deps) -> bool:
    """Check the gateway part of one run waiting for it; False when none waits."""
    claimed = await store.claim_gateway_check(deps.pool, deps.config.reconciliation_claim_lease_seconds)
    if claimed is None:
        return False
    run_id = claimed["run_id"]
    failure = None
    try:
        drifts, checked = await gateway_drifts(deps, claimed["period_start"], claimed["period_end"])
    except (GatewayError, PaymentError) as exc:  # unreachable, or no keys: the report says so
        drifts, checked = [], {}
        failure = f"the gateway could not be read: {getattr(exc, 'message', None) or exc}"
    async with deps.uow.begin() as tx:
        run = await store.lock_run(tx.conn, run_id)
        if run is not None and run["gateway_state"] == "pending":
            await store.record_part(tx.conn, run_id, "gateway", drifts, checked, failure)
            await complete_if_done(tx, run_id)
    log.info("reconciliation gateway part checked", run_id=str(run_id), drifts=len(drifts), failure=failure)
    return True


async def on_books_checked(tx: Tx, event: object) -> None:
    data: BooksCheckedData = event.data  # type: ignore[attr-defined]
    run_id = store.parse_id(data.run_id)
    run = await store.lock_run(tx.conn, run_id) if run_id else None
    if run is None or run["books_state"] != "pending":
        return  # another run's (another installation sharing the topic), or answered already
    checked = {"payments": data.payments_checked, "invoices": data.invoices_checked, "truncated": data.truncated}
    await store.record_part(tx.conn, run_id, "books", data.drifts, checked,
                            f"the books could not be checked: {data.failure}" if data.failure else None)
    await complete_if_done(tx, run_id)


async def expire_books_waits(deps: Deps) -> None:
    wait = deps.config.reconciliation_books_wait_seconds
    for run_id in await store.overdue_books(deps.pool, wait):
        async with deps.uow.begin() as tx:
            run = await store.lock_run(tx.conn, run_id)
            if run is not None and run["books_state"] == "pending":
                await store.record_part(tx.conn, run_id, "books", [], {},
                                        f"sync did not answer within {wait / 60:.0f} minutes")
                await complete_if_done(tx, run_id)


async def complete_if_done(tx: Tx, run_id: uuid.UUID) -> None:
    """The caller holds the run's lock."""
    run = await store.run(tx.conn, run_id)
    if run is None or run["status"] != "running" or "pending" in (run["gateway_state"], run["books_state"]):
        return
    by_code = await store.complete(tx.conn, run_id)
    tx.publish(BILLING_PAYMENTS, ReconciliationCompleted.new(
        producer=PRODUCER, organization_id=SYSTEM_ORGANIZATION,
        data=ReconciliationCompletedData(
            run_id=str(run_id), trigger=run["trigger"], period_start=run["period_start"],
            period_end=run["period_end"], completed_at=datetime.now(UTC), drift_count=sum(by_code.values()),
            by_code=by_code, incomplete=[p for p in ("gateway", "books") if run[f"{p}_state"] == "failed"])))


async def run_worker(deps: Deps) -> None:
    while True:
        try:
            await schedule_nightly(deps, datetime.now(UTC))
            while await check_gateway_once(deps):
                pass
            await expire_books_waits(deps)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:  # the next round tries again
            log.warning("reconciliation round failed", error=repr(exc))
        await asyncio.sleep(deps.config.reconciliation_poll_seconds)


# -- a person's answers to a drift ----------------------------------------------------------------------------


async def explain(deps: Deps, drift_id: uuid.UUID, note: str, by: str | None) -> asyncpg.Record:
    async with deps.uow.begin() as tx:
        drift = await _open_drift(tx, drift_id)
        return await store.set_drift_state(tx.conn, drift["drift_id"], "explained", note, by)


async def repair(deps: Deps, drift_id: uuid.UUID, by: str | None) -> asyncpg.Record:
    """The safe repair of the drift's class, or `drift_not_repairable` saying what a person can do."""
    async with deps.uow.begin() as tx:
        drift = await _open_drift(tx, drift_id)
        code = drift["code"]
        if code in RESENDABLE:
            tx.publish(BILLING_PAYMENTS, WritebackResendRequested.new(
                producer=PRODUCER, organization_id=drift["organization_id"] or SYSTEM_ORGANIZATION,
                data=WritebackResendRequestedData(drift_id=str(drift_id), payment_id=drift["payment_id"],
                                                  invoice_id=drift["invoice_id"], requested_by=by)))
            return await store.set_drift_state(tx.conn, drift_id, "repair_requested", None, by)
        if code == "gateway_sale_unknown_to_ledger" and drift["payment_id"]:
            payment = await payment_store.load(tx.conn, drift["payment_id"])
            if payment is not None and payment.status == "pending":
                found = await deps.gateway(await deps.settings()).find_by_order_id(payment.payment_id)
                outcome = sale_outcome(found)
                if outcome.approved:
                    await resolve_pending(tx, payment.payment_id, outcome)
                    return await store.set_drift_state(tx.conn, drift_id, "repaired", None, by)
        raise PaymentError("drift_not_repairable", NOT_REPAIRABLE.get(code, "explain this drift with a note"),
                           drift_code=code)


async def _open_drift(tx: Tx, drift_id: uuid.UUID) -> asyncpg.Record:
    drift = await store.drift(tx.conn, drift_id, for_update=True)
    if drift is None:
        raise PaymentError("not_found", "no such drift", drift_id=str(drift_id))
    if drift["state"] in ("explained", "repaired"):
        raise PaymentError("drift_resolved", f"this drift is {drift['state']} already", state=drift["state"])
    return drift
