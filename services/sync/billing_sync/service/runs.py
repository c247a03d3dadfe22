"""Starting, progressing and ending sync runs; each change and its `billing.sync.v1` event commit together."""
from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.events.sync import (
    ConnectionFailedData, IntegrationConnectionFailed, SyncCompleted, SyncCompletedData, SyncFailed,
    SyncFailedData, SyncProgress, SyncProgressData, SyncRecordFailed, SyncRecordFailedData, SyncStarted,
    SyncStartedData,
)
from billing_shared.outbox import Tx

from billing_sync.adapters import integration_store, run_store
from billing_sync.domain.integrations import AUTOTASK
from billing_sync.domain.runs import OPEN_INVOICES, VOIDED_INVOICES, Mode, Watermark, choose_mode, plan_since, watermarks_after
from billing_sync.service.deps import Deps
from billing_sync.service.publishing import PRODUCER

# Sync events concern the MSP itself, not one client organization: this is their envelope key.
SYSTEM_ORGANIZATION = "system"


class RunAborted(Exception):
    """The run is no longer running (cancelled, or the integration was deleted): stop quietly."""


async def request_run(deps: Deps, trigger: str, interval_minutes: int | None,
                      requested_mode: Mode | None = None) -> tuple[uuid.UUID, bool]:
    """Start a run now, unless one is going: then its id (and False)."""
    async with deps.uow.begin() as tx:
        running = await run_store.running(tx.conn, AUTOTASK)
        if running is not None:
            return running["run_id"], False
        last = await run_store.last_started(tx.conn, AUTOTASK)
        mode = choose_mode(bool(last and last["completed"]), requested_mode)
        marks = await run_store.watermarks(tx.conn, AUTOTASK)
        since = plan_since(mode, marks, timedelta(minutes=deps.config.sync_overlap_minutes))
        run_id = uuid.uuid4()
        if not await run_store.create(tx.conn, run_id, AUTOTASK, mode, trigger, since):
            raced = await run_store.running(tx.conn, AUTOTASK)
            return (raced["run_id"] if raced else run_id), False
        tx.publish(BILLING_SYNC, SyncStarted.new(
            producer=PRODUCER, organization_id=SYSTEM_ORGANIZATION,
            data=SyncStartedData(integration=AUTOTASK, run_id=str(run_id), mode=mode,
                                 interval_minutes=interval_minutes)))
    deps.runs_wake.set()
    return run_id, True


async def save_progress(tx: Tx, run_id: uuid.UUID, entity: str, progress: dict[str, Any]) -> None:
    """One entity's progress, with a `sync.progress` event; RunAborted when the run was stopped."""
    if not await run_store.save_progress(tx.conn, run_id, entity, progress):
        raise RunAborted(str(run_id))
    tx.publish(BILLING_SYNC, SyncProgress.new(
        producer=PRODUCER, organization_id=SYSTEM_ORGANIZATION,
        data=SyncProgressData(integration=AUTOTASK, run_id=str(run_id), entity=entity,
                              fetched=int(progress.get("fetched", 0)), total=progress.get("total"))))


async def settings_current(tx: Tx, run_id: uuid.UUID, used: Mapping[str, int | None] | None) -> bool | None:
    """Lock the run, then: did it use the integration settings as they are now (`used`: integration ->
    revision)? None when the run is no longer running. See `run_store.lock_running`."""
    if not await run_store.lock_running(tx.conn, run_id):
        return None
    if used is None:
        return False
    for name, revision in used.items():
        if await integration_store.revision(tx.conn, name) != revision:
            return False
    return True


async def complete(tx: Tx, run_id: uuid.UUID, started_at: datetime, progress: dict[str, Any],
                   interval_minutes: int | None, used: Mapping[str, int | None] | None = None) -> None:
    """End the run as completed; `used`: the integration revisions it ran with (a settings change
    during the run that it did not take in leaves its follow-up requested)."""
    current = await settings_current(tx, run_id, used)
    if current is None:
        raise RunAborted(str(run_id))
    previous = await run_store.watermarks(tx.conn, AUTOTASK)
    marks = watermarks_after({e: p for e, p in progress.items() if e not in (VOIDED_INVOICES, OPEN_INVOICES)},
                             previous, started_at)
    # Voids have no stamp of their own to watch: the next run looks back to this run's start.
    marks[VOIDED_INVOICES] = Watermark(changed_at=started_at)
    await run_store.save_watermarks(tx.conn, AUTOTASK, marks)
    if not await run_store.finish(tx.conn, run_id, "completed", settings_current=current):
        raise RunAborted(str(run_id))
    tx.publish(BILLING_SYNC, SyncCompleted.new(
        producer=PRODUCER, organization_id=SYSTEM_ORGANIZATION,
        data=SyncCompletedData(integration=AUTOTASK, run_id=str(run_id), completed_at=datetime.now(UTC),
                               interval_minutes=interval_minutes,
                               counts={e: int(p.get("fetched", 0)) for e, p in progress.items()})))


async def fail(tx: Tx, run_id: uuid.UUID, reason: str, *, connection_failed: str | None = None,
               used: Mapping[str, int | None] | None = None) -> None:
    """End the run as failed; `connection_failed` names the integration whose credentials were refused.
    A follow-up requested by a settings change the run did not take in (`used`) stays requested."""
    current = await settings_current(tx, run_id, used)
    if current is None or not await run_store.finish(tx.conn, run_id, "failed", reason, settings_current=current):
        return
    tx.publish(BILLING_SYNC, SyncFailed.new(
        producer=PRODUCER, organization_id=SYSTEM_ORGANIZATION,
        data=SyncFailedData(integration=AUTOTASK, run_id=str(run_id), reason=reason)))
    if connection_failed:
        publish_connection_failed(tx, connection_failed, reason)


async def skip_record(tx: Tx, run_id: uuid.UUID, integration: str, entity: str, record_id: str,
                      reason: str) -> None:
    """The run could not sync one record: the reason is kept with the run and `sync.record_failed`
    raised (staff get a ticket), and the run goes on with the others. The record stays as it was,
    so the next run tries it again."""
    if await run_store.record_failure(tx.conn, run_id, entity, record_id, reason):
        tx.publish(BILLING_SYNC, SyncRecordFailed.new(
            producer=PRODUCER, organization_id=SYSTEM_ORGANIZATION,
            data=SyncRecordFailedData(integration=integration, run_id=str(run_id),  # type: ignore[arg-type]
                                      entity=entity, record_id=record_id, reason=reason)))


def publish_connection_failed(tx: Tx, integration: str, reason: str) -> None:
    tx.publish(BILLING_SYNC, IntegrationConnectionFailed.new(
        producer=PRODUCER, organization_id=SYSTEM_ORGANIZATION,
        data=ConnectionFailedData(integration=integration, reason=reason)))  # type: ignore[arg-type]
