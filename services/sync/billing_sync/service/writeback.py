"""Payment write-back: `billing.payments.v1` snapshots become accounting payments and PSA paid dates.

The consumer only records the newest snapshot of each payment (desired state) in its transaction;
the worker (one per schema, by advisory lock) reconciles accounting and the PSA outside any
transaction, with retries, and marks the snapshot done. Every accounting write is keyed by payment
id: the intent is recorded before a create and a retry looks for the marker first, so a crash
between "created in accounting" and "recorded here" never makes a second payment.
"""
from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog

from billing_shared.events.payments import PaymentSnapshot
from billing_shared.leadership import lead_forever
from billing_shared.outbox import Tx

from billing_sync.adapters import psa_invoice_store, quickbooks_json, writeback_store
from billing_sync.adapters.accounting import BATCH_ITEMS, REFERENCE_LENGTH, Accounting
from billing_sync.adapters.psa import PsaSource
from billing_sync.adapters.quickbooks import QuickBooksFault
from billing_sync.adapters.writeback_store import Desired, Pending
from billing_sync.domain.accounting_links import same_object
from billing_sync.domain.writeback import (
    AccountingTarget, as_recorded, by_payment, is_voided, latest_in_order, live_applications, marker, memo,
    newest_live, paid_dates, payment_matches, target_for,
)
from billing_sync.service.accounting_steps import link_update
from billing_sync.service.customers import customer_for
from billing_sync.service.deps import Deps
from billing_sync.service.publishing import PublishPolicy, republish
from billing_sync.service.refund_writeback import reconcile_refunds

log = structlog.get_logger(__name__)

LOCK = "sync-writeback"
CHANNEL = "sync_writeback"
OBJECT_NOT_FOUND = "610"  # QuickBooks: the object is inactive or does not exist
BATCH = BATCH_ITEMS  # due payments a round takes: their fresh creates fill one batch request at most


async def on_payment_snapshots(tx: Tx, events: Sequence) -> None:  # type: ignore[type-arg]
    """Record the newest snapshot of each payment in arrival order (Kafka's order within the
    partition, not the sender's clock), unless it would revive a reversed payment or equals what is
    stored (a replay under another event id changes nothing; the inbox drops repeats of one event)."""
    grouped = by_payment((e.occurred_at, e.data) for e in events)
    heads = await writeback_store.stored_heads(tx.conn, list(grouped))
    fresh = []
    for payment_id, arrived in grouped.items():
        head = heads.get(payment_id)
        stored_status, stored = (head[1], head[2]) if head is not None else (None, None)
        snapshot = latest_in_order(stored_status, (s for _, s in arrived))
        if snapshot is None or (stored is not None and PaymentSnapshot.model_validate(stored) == snapshot):
            continue
        at = next(a for a, s in reversed(arrived) if s is snapshot)
        fresh.append(Desired(snapshot.payment_id, snapshot.organization_id, snapshot, at,
                             live_applications(snapshot), newest_live(stored_status, (s for _, s in arrived))))
    await writeback_store.record_desired(tx.conn, fresh)


class WritebackWorker:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.wake = asyncio.Event()

    async def run(self) -> None:
        c = self.deps.config
        await lead_forever(self.deps.pool, lock=LOCK, channel=CHANNEL, work=self.round, wake=self.wake,
                           idle_seconds=c.writeback_poll_seconds, standby_seconds=c.writeback_poll_seconds * 5,
                           name="payment write-back")

    async def round(self) -> bool:
        """Write back what is due, oldest first: fresh creates (and creates whose batch went out unrecorded)
        together in one batch request, the rest one by one; True when a full round suggests more is waiting.
        Nothing waits for a batch to fill: what is due now goes now (the batch pacing spaces the requests)."""
        due = await writeback_store.due(self.deps.pool, BATCH)
        connected = await self.deps.connections.quickbooks()
        if connected is not None and any(_batchable(p) for p in due) and await connected.client.batch_ready():
            # The batch could not go before now: what came due meanwhile goes in it, not one interval later
            due = await writeback_store.due(self.deps.pool, BATCH)
        # All the round's creates in one batch, sent where its oldest member stands among the single ones
        batch = [p for p in due if _batchable(p)] if connected is not None else []
        members = {p.payment_id for p in batch}
        for pending in due:
            if pending.payment_id not in members:
                await self.handle(pending)
            elif connected is not None and pending is batch[0]:
                await self.handle_batch(connected.client, batch)
        return len(due) == BATCH

    async def handle(self, pending: Pending) -> None:
        try:
            await reconcile(self.deps, pending)
            await writeback_store.mark_done(self.deps.pool, pending.payment_id, pending.seq)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - kept and retried later, never lost
            await self.failed(pending, exc)

    async def handle_batch(self, accounting: Accounting, group: list[Pending]) -> None:
        """Create the group's accounting payments in one batch request, then finish those created together:
        one read of the new balances, the PSA paid dates, one republish, done. A member refused alone is
        retried alone; after a failure of the whole, every member is (its batch is sent again as it was)."""
        try:
            outcome = await write_batch(self.deps, accounting, group)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - kept and retried later, never lost
            for pending in group:
                await self.failed(pending, exc)
            return
        created: list[Pending] = []
        for pending in group:
            result = outcome.get(pending.payment_id)
            if target_for(pending.snapshot).kind != "payment":  # reversed since its batch went out: voided alone
                if isinstance(result, str):
                    await self.handle(dataclasses.replace(pending, accounting_payment_id=result, batch_key=None))
                else:  # that batch made nothing for it (refused, or not in it): as if it was never tried
                    await self.handle(dataclasses.replace(pending, intent_at=None, batch_key=None))
            elif isinstance(result, Exception):
                await self.failed(pending, result)
            elif result is not None:
                created.append(dataclasses.replace(pending, accounting_payment_id=result, batch_key=None))
            # else: not created under that batch, and not refused: the next round's batch takes it
        if created:
            await self.finish_batch(accounting, created)

    async def finish_batch(self, accounting: Accounting, created: list[Pending]) -> None:
        finished = []
        for pending in created:
            try:
                await reconcile_refunds(self.deps, accounting, pending)  # no call unless it has refunds
                finished.append(pending)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - retried alone; its payment is recorded
                await self.failed(pending, exc)
        try:
            touched = sorted(set().union(*(_touched(p, target_for(p.snapshot)) for p in finished)))
            await refresh_links(self.deps, accounting, touched)
            await reconcile_psa(self.deps, True, touched)
            await writeback_store.mark_done_many(self.deps.pool, [(p.payment_id, p.seq) for p in finished])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - each is retried alone (its accounting payment is recorded)
            for pending in finished:
                await self.failed(pending, exc)

    async def failed(self, pending: Pending, exc: Exception) -> None:
        s = self.deps.config
        delay = min(s.writeback_retry_max_seconds, s.writeback_retry_seconds * 2 ** pending.attempts)
        log.warning("payment write-back failed; will retry", payment_id=pending.payment_id,
                    attempt=pending.attempts + 1, delay=delay, error=str(exc)[:300])
        await writeback_store.mark_failed(self.deps.pool, pending.payment_id, f"{type(exc).__name__}: {exc}", delay)


def _batchable(pending: Pending) -> bool:
    """A create for the batch path: fresh (no accounting payment, no intent: never tried, or its batch refused
    it) and live, or one whose batch went out and was not recorded (that batch is sent again, whatever it is
    now). An intent without a batch (a single create, or the void path's) stays on the single path."""
    if pending.accounting_payment_id is not None:
        return False
    return pending.batch_key is not None or (pending.intent_at is None and target_for(pending.snapshot).kind == "payment")


def _touched(pending: Pending, target: AccountingTarget) -> set[str]:
    touched = set(pending.written) | set(target.applications) | {a.invoice_id for a in pending.snapshot.applications}
    if pending.live is not None and target.kind == "void":  # it may be recorded (on them) before it is voided
        touched |= {a.invoice_id for a in pending.live.applications}
    return touched


BatchOutcome = dict[str, str | Exception | None]  # payment id -> accounting payment id, its refusal, or None


async def write_batch(deps: Deps, accounting: Accounting, group: Sequence[Pending]) -> BatchOutcome:
    """Batches left unrecorded by a crash or a lost lock are sent again first, as they were (same members,
    same requestid: accounting answers as the first time and makes nothing twice); then the fresh creates,
    their intent claimed in one statement under a new batch key before they are sent."""
    outcome: BatchOutcome = {}
    for key in dict.fromkeys(p.batch_key for p in group if p.batch_key is not None):
        members = await writeback_store.batch_items(deps.pool, key)
        # A member reversed since goes unapplied (as_recorded): if this batch never ran, its invoices got their
        # balance back and may be paid by another since, so its lines would be refused. If it ran, the first
        # answer stands whatever is sent now (then the void path voids what it made).
        reversed_ = {i for i, (_, desired) in members.items() if target_for(desired).kind == "void"}
        outcome.update(await _send_batch(deps, accounting, key, {i: item for i, (item, _) in members.items()},
                                         reversed_))
    fresh = [p for p in group if p.batch_key is None]
    if fresh:
        items = await _batch_items(deps, accounting, fresh)
        key = f"wb-{uuid.uuid4().hex}"  # QuickBooks' requestid: at most 50 characters
        claimed = set(await writeback_store.claim_batch(deps.pool, key, items))
        # One not claimed was taken by another leader's batch: the next round sends that one again.
        outcome.update(await _send_batch(deps, accounting, key, {i: item for i, item in items.items() if i in claimed}))
    return outcome


async def _batch_items(deps: Deps, accounting: Accounting, fresh: Sequence[Pending]) -> dict[str, str]:
    """payment id -> its batch item as stored and sent (JSON, money exact): the Payment on the invoices whose
    link one query just verified, its place in the batch, and what it applies per invoice."""
    invoices = sorted({i for p in fresh for i in target_for(p.snapshot).applications})
    linked = {i: str(found["Id"]) for i, found in (await verified_links(deps, accounting, invoices)).items()}
    items = {}
    customers: dict[tuple[str, str], str] = {}  # one directory read per organization, not per payment
    for n, pending in enumerate(fresh):
        snapshot, target = pending.snapshot, target_for(pending.snapshot)
        whose = (pending.organization_id, snapshot.currency)
        if whose not in customers:
            customers[whose] = await customer_for(deps.uow, accounting, *whose)
        customer_id = customers[whose]
        sale = next((t for t in snapshot.transactions if t.type == "sale"), None)
        payment = Accounting.payment(customer_id, target.total, target.lines(linked),
                                     snapshot.transaction_id or snapshot.payment_id, memo(snapshot),
                                     (sale.at if sale else datetime.now(UTC)).date())
        written = {i: a for i, a in target.applications.items() if i in linked and a > 0}
        items[pending.payment_id] = quickbooks_json.dumps({"n": n, "payment": payment, "written": written})
    return items


async def _send_batch(deps: Deps, accounting: Accounting, key: str, stored: dict[str, str],
                      unapplied: set[str] | None = None) -> BatchOutcome:
    """Send batch `key` (payment id -> stored item; those in `unapplied` without their lines) and record its
    answer."""
    if not stored:
        return {}
    records = {payment_id: quickbooks_json.loads(text) for payment_id, text in stored.items()}
    for payment_id in unapplied or ():
        records[payment_id] = {**records[payment_id], "written": {},
                               "payment": {**records[payment_id]["payment"], "Line": []}}
    ordered = sorted(records, key=lambda payment_id: records[payment_id]["n"])
    try:
        answered = await accounting.create_payments({i: records[i]["payment"] for i in ordered}, key)
    except QuickBooksFault:  # refused as a whole: nothing ran, a new batch takes them
        await writeback_store.leave_batch(deps.pool, key, ordered)
        raise
    created = {i: str(a["Id"]) for i, a in answered.items() if i in records and isinstance(a, dict)}
    async with deps.uow.begin() as tx:
        await writeback_store.record_batch(tx.conn, key, [
            (i, created[i], {inv: Decimal(str(a)) for inv, a in records[i]["written"].items()}) for i in ordered
            if i in created])
    left = [i for i in ordered if i not in created]
    if left:  # refused alone, or not in the batch that answered first: accounting made nothing for them
        await writeback_store.leave_batch(deps.pool, key, left)
        for i in left:
            if isinstance(answered.get(i), QuickBooksFault):
                log.warning("accounting refused a payment of a batch", payment_id=i, error=str(answered[i])[:300])
    return {i: created.get(i) if i in created else (answered[i] if isinstance(answered.get(i), Exception) else None)
            for i in ordered}


async def reconcile(deps: Deps, pending: Pending) -> None:
    target = target_for(pending.snapshot)
    touched = _touched(pending, target)
    accounting = await deps.connections.quickbooks()
    if accounting is not None and target.kind != "none":
        await reconcile_accounting(deps, accounting.client, pending, target)
        await reconcile_refunds(deps, accounting.client, pending)
        await refresh_links(deps, accounting.client, sorted(touched))
    await reconcile_psa(deps, accounting is not None, sorted(touched))


async def reconcile_psa(deps: Deps, accounting_connected: bool, touched: Sequence[str]) -> None:
    """The PSA paid dates of the touched invoices, then their republish, in one transaction."""
    psa = await deps.connections.autotask()
    if psa is not None:
        await reconcile_paid_dates(deps, psa.client, touched)
        policy = PublishPolicy(accounting_connected, psa.settings.currency, datetime.now(UTC).date())
        async with deps.uow.begin() as tx:
            await republish(tx, touched, policy)


async def reconcile_accounting(deps: Deps, accounting: Accounting, pending: Pending,
                               target: AccountingTarget) -> None:
    pool = deps.pool
    snapshot = pending.snapshot
    account_id = pending.accounting_payment_id
    if target.kind == "void" and account_id is None and pending.intent_at is None \
            and as_recorded(snapshot, pending.live) is None:
        return await _record(deps, pending.payment_id, None, False, {})  # never charged: nothing to record
    customer_id = await customer_for(deps.uow, accounting, pending.organization_id, snapshot.currency)
    current = None
    if account_id is None and pending.intent_at is not None:  # created before a crash, perhaps
        current = await accounting.find_by_marker("Payment", customer_id, marker(snapshot.payment_id),
                                                  pending.intent_at)
        account_id = str(current["Id"]) if current else None
    elif account_id is not None:
        current = await _ours(accounting, account_id, snapshot)
        if current is None:  # reset or other books: that id is not our payment (any more)
            log.warning("accounting payment not in these books; not changed there", payment_id=snapshot.payment_id,
                        accounting_payment_id=account_id, realm=accounting.realm_id)
            await writeback_store.forget_accounting_payment(pool, snapshot.payment_id)
            account_id = None
            if target.kind == "void":
                return await _record(deps, pending.payment_id, None, False, {})  # nothing of ours to reverse
    if target.kind == "void":
        if account_id is None:  # accounting never took it (a refused create, retried after the reversal)
            recorded = as_recorded(snapshot, pending.live)
            if recorded is None:  # never charged: nothing to record
                return await _record(deps, pending.payment_id, None, False, {})
            account_id = await _create(deps, accounting, customer_id, pending.live or snapshot, recorded)
            current = None
        if current is None or not is_voided(current):  # recorded, then voided: the books show both
            await accounting.void_payment(account_id)
        return await _record(deps, pending.payment_id, account_id, True, {})
    if account_id is None:
        await _create(deps, accounting, customer_id, snapshot, target)
        return
    # Only invoices whose accounting object is still theirs: an id from reset books may name another's
    linked = {i: str(found["Id"]) for i, found in (await verified_links(deps, accounting, list(target.applications))).items()}
    lines = target.lines(linked)
    written = {i: a for i, a in target.applications.items() if i in linked and a > 0}
    if current is None:
        current = await accounting.get("Payment", account_id)
    if is_voided(current):
        log.warning("accounting payment is voided; not changed", payment_id=snapshot.payment_id)
        return await _record(deps, pending.payment_id, account_id, True, {})
    if not payment_matches(current, target, lines):
        await accounting.update_payment(current, target.total, lines, memo(snapshot))
    await _record(deps, pending.payment_id, account_id, False, written)


def create_request_id(payment_id: str, intent_at: datetime) -> str:
    """QuickBooks' `requestid` of the create of one intent (at most 50 characters): the same for every try
    of that intent, a new one once the intent is forgotten (books reset: the payment is made again)."""
    return hashlib.sha256(f"{payment_id}|{intent_at.isoformat()}".encode()).hexdigest()[:40]


async def _create(deps: Deps, accounting: Accounting, customer_id: str, snapshot: PaymentSnapshot,
                  target: AccountingTarget) -> str:
    """Create the accounting payment `target` of `snapshot`'s payment (intent first, so a retry finds
    it), record it with what it applies per invoice, and return its id."""
    # Only invoices whose accounting object is still theirs: an id from reset books may name another's
    linked = {i: str(found["Id"]) for i, found in (await verified_links(deps, accounting, list(target.applications))).items()}
    written = {i: a for i, a in target.applications.items() if i in linked and a > 0}
    intent_at = await writeback_store.record_intent(deps.pool, snapshot.payment_id)
    sale = next((t for t in snapshot.transactions if t.type == "sale"), None)
    # Keyed by the intent: a leader that lost its lock mid-create and the one that took over send the same
    # create, and accounting makes one payment (the marker search alone misses a create still in flight).
    created = await accounting.create_payment(
        customer_id, target.total, target.lines(linked), snapshot.transaction_id or snapshot.payment_id,
        memo(snapshot), (sale.at if sale else datetime.now(UTC)).date(),
        request_id=create_request_id(snapshot.payment_id, intent_at))
    account_id = str(created["Id"])
    await _record(deps, snapshot.payment_id, account_id, False, written)
    return account_id


async def _ours(accounting: Accounting, account_id: str, snapshot: PaymentSnapshot) -> dict[str, Any] | None:
    """The accounting payment `account_id` as it is now, when it is still the one sync wrote for the
    payment (its marker, or its reference, is there); None when the id names nothing or another's."""
    try:
        current = await accounting.get("Payment", account_id)
    except QuickBooksFault as fault:
        if fault.code != OBJECT_NOT_FOUND:
            raise
        return None
    reference = (snapshot.transaction_id or snapshot.payment_id)[:REFERENCE_LENGTH]
    if marker(snapshot.payment_id) in str(current.get("PrivateNote") or "") or current.get("PaymentRefNum") == reference:
        return current
    return None


async def _record(deps: Deps, payment_id: str, account_id: str | None, voided: bool, written: dict) -> None:
    async with deps.uow.begin() as tx:
        await writeback_store.record_written(tx.conn, payment_id, account_id, voided, written)


async def verified_links(deps: Deps, accounting: Accounting,
                         invoice_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Invoice id -> its accounting invoice as read now, for the linked invoices whose object still
    exists. A link whose id now names another object, or nothing (reset books), is retired."""
    linked = await psa_invoice_store.current_links(deps.pool, accounting.realm_id, invoice_ids)
    # One query reads them all (a deleted one is absent from its answer), not one GET each
    objects = await accounting.by_ids("Invoice", [str(link.accounting_id) for link in linked.values()])
    found: dict[str, dict[str, Any]] = {}
    gone = []
    for invoice_id, link in sorted(linked.items()):
        current = objects.get(str(link.accounting_id))
        if current is not None and same_object(invoice_id, link.created, current):
            found[invoice_id] = current
        else:
            gone.append(invoice_id)
    if gone:
        log.warning("accounting invoices gone from the books; links retired", invoices=gone)
        async with deps.uow.begin() as tx:
            await psa_invoice_store.retire_links(tx.conn, gone)
    return found


async def refresh_links(deps: Deps, accounting: Accounting, invoice_ids: Sequence[str]) -> None:
    """Read the touched invoices back (balances moved), so no stale balance makes one look paid."""
    found = await verified_links(deps, accounting, invoice_ids)
    async with deps.uow.begin() as tx:
        await psa_invoice_store.upsert_links(tx.conn, accounting.realm_id,
                                             [link_update(i, current) for i, current in sorted(found.items())])


async def reconcile_paid_dates(deps: Deps, psa: PsaSource, invoice_ids: Sequence[str]) -> None:
    pool = deps.pool
    rows = await psa_invoice_store.psa_totals(pool, invoice_ids)
    applied = await writeback_store.live_applied(pool, invoice_ids)
    changes = paid_dates({r["invoice_id"]: r["total"] for r in rows}, applied,
                         {r["invoice_id"]: r["written_paid_on"] for r in rows}, datetime.now(UTC).date())
    external = {r["invoice_id"]: r["external_id"] for r in rows}

    async def write(invoice_id: str) -> None:
        paid_on = changes[invoice_id]
        await psa.write_invoice(external[invoice_id], {"paidDate": paid_on.isoformat() if paid_on else None})
        await psa_invoice_store.record_paid_date(pool, invoice_id, paid_on)
    # One write per invoice, all at once: the PSA client's budget keeps them within its concurrency limit
    outcomes = await asyncio.gather(*(write(i) for i in sorted(changes)), return_exceptions=True)
    failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
    if failure is not None:
        raise failure

