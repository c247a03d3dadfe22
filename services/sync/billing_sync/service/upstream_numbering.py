"""Upstream invoices (`upstream.invoices.v1`) that arrive open without a number are numbered through
accounting as PSA invoices are: created there (intent and marker first, so a retry finds it), linked,
then published with accounting's DocNumber (a new version). The consumer wakes this worker (NOTIFY on
commit); it also looks every few seconds (accounting set later, a refusal due again). One worker per
schema (advisory lock). A refusal by QuickBooks is kept with its reason and tried again later
(doubling); `sync.record_failed` is raised once per reason (staff get a ticket).
"""
from __future__ import annotations

import asyncio
from decimal import Decimal

import structlog

from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.events.sync import SyncRecordFailed, SyncRecordFailedData
from billing_shared.leadership import lead_forever

from billing_sync.adapters import upstream_numbering_store as store
from billing_sync.adapters.accounting import Accounting
from billing_sync.adapters.quickbooks import InvoiceLine
from billing_sync.domain.integrations import QUICKBOOKS
from billing_sync.domain.invoices import InvoiceRecord
from billing_sync.service.accounting_steps import create_in_accounting, record_fault
from billing_sync.service.deps import Deps
from billing_sync.service.publishing import PRODUCER, publish_snapshots
from billing_sync.service.runs import SYSTEM_ORGANIZATION

log = structlog.get_logger(__name__)

LOCK = "sync-upstream-numbering"
BATCH = 50
ENTITY = "upstream_numbering"  # the entity (and run id) named by `sync.record_failed`: no run does this
RETRY_SECONDS, RETRY_MAX_SECONDS = 30.0, 3600.0


def upstream_lines(record: InvoiceRecord) -> list[InvoiceLine]:
    """The source's lines when they add up to the total; else one line with the total."""
    lines = []
    for line in record.lines:
        amount = Decimal(str(line.get("amount", "0")))
        quantity, price = line.get("quantity"), line.get("unit_price")
        exact = quantity is not None and price is not None and \
            (Decimal(str(quantity)) * Decimal(str(price))).quantize(Decimal("0.01")) == amount
        lines.append(InvoiceLine(str(line.get("description") or "Invoice line"), amount,
                                 Decimal(str(quantity)) if exact else None, Decimal(str(price)) if exact else None))
    if not lines or sum((line.amount for line in lines), Decimal("0")) != record.total:
        return [InvoiceLine(f"Invoice {record.external_id} ({record.source})", record.total)]
    return lines


class UpstreamNumbering:
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
        self.wake = asyncio.Event()

    async def run(self) -> None:
        poll = self.deps.config.scheduler_tick_seconds

        async def work() -> bool:
            await number_waiting(self.deps)
            return False

        await lead_forever(self.deps.pool, lock=LOCK, channel=store.CHANNEL, work=work, wake=self.wake,
                           idle_seconds=poll, standby_seconds=poll * 2, name="upstream numbering")


async def number_waiting(deps: Deps) -> None:
    connected = await deps.connections.quickbooks()
    if connected is None:
        return
    accounting = connected.client
    for record in await store.waiting(deps.pool, BATCH):
        try:
            await number_one(deps, accounting, record)
        except Exception as exc:
            if record_fault(exc) is None:  # credentials, availability or a bug: not this invoice's fault
                raise
            await _refused(deps, record, f"QuickBooks: {exc}"[:1000])


async def number_one(deps: Deps, accounting: Accounting, record: InvoiceRecord) -> None:
    number = (await store.linked_number(deps.pool, accounting.realm_id, [record.invoice_id])).get(record.invoice_id)
    if number is None:
        dates = (record.issued_on, record.due_on or record.issued_on)
        number = await create_in_accounting(deps.uow, accounting, record.invoice_id, record.organization_id,
                                            upstream_lines(record), dates, record.currency)
    if not number:
        raise RuntimeError(f"QuickBooks gave invoice {record.invoice_id} no DocNumber")
    async with deps.uow.begin() as tx:
        numbered = await store.set_number(tx.conn, record.invoice_id, number)
        if numbered is not None:
            publish_snapshots(tx, [numbered])
    log.info("upstream invoice numbered through accounting", invoice_id=record.invoice_id, number=number)


async def _refused(deps: Deps, record: InvoiceRecord, reason: str) -> None:
    log.warning("upstream invoice not numbered; tried again later", invoice_id=record.invoice_id, reason=reason)
    async with deps.uow.begin() as tx:
        if await store.record_failure(tx.conn, record.invoice_id, reason, RETRY_SECONDS, RETRY_MAX_SECONDS):
            tx.publish(BILLING_SYNC, SyncRecordFailed.new(
                producer=PRODUCER, organization_id=SYSTEM_ORGANIZATION,
                data=SyncRecordFailedData(integration=QUICKBOOKS, run_id=ENTITY, entity=ENTITY,
                                          record_id=record.invoice_id, reason=reason)))
