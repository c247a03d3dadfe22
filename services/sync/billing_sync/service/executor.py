"""Running one sync run, from its last checkpoint to the end.

The PSA entities are read side by side (each Autotask endpoint has its own thread limit), the
directory is settled once organizations and contacts are in, then accounting is read back and
unnumbered invoices are numbered. The QuickBooks settings are read when those accounting steps begin,
not when the run starts (setting Autotask starts the first run at once; QuickBooks is often set a
moment later), and the steps are gone over again when they changed meanwhile. The run remembers the
settings revisions it used: a settings change it did not take in leaves a follow-up run requested.
One invoice that QuickBooks or the PSA refuses is skipped with its reason (`sync.record_failed`,
accounting_steps.py); any other failure ends the run as `sync.failed` with the reason; refused
credentials also raise `integration.connection_failed`.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from billing_shared.psa import PsaAuthError, PsaError

from billing_sync.adapters import integration_store, run_store
from billing_sync.adapters.quickbooks import QuickBooksAuthError, QuickBooksError
from billing_sync.domain.integrations import AUTOTASK, QUICKBOOKS
from billing_sync.domain.runs import ACCOUNTING_INVOICES, NUMBERING, VOIDED_INVOICES
from billing_sync.service import accounting_steps, total_changes
from billing_sync.service.deps import Deps
from billing_sync.service.directory import settle_organizations
from billing_sync.service.psa_steps import StepRun, pull, reread_open
from billing_sync.service.publishing import PublishPolicy
from billing_sync.service.runs import RunAborted, complete, fail

log = structlog.get_logger(__name__)

ACCOUNTING_STEPS = (ACCOUNTING_INVOICES, NUMBERING)
# How many times one run goes over the accounting steps when the QuickBooks settings keep changing
# while it does; a change after the last pass leaves a follow-up run requested.
ACCOUNTING_PASSES = 3


def describe(exc: BaseException) -> tuple[str, str | None]:
    """(reason, integration whose credentials were refused, if that is what happened)."""
    if isinstance(exc, PsaAuthError):
        return f"Autotask refused the credentials: {exc}", AUTOTASK
    if isinstance(exc, QuickBooksAuthError):
        return f"QuickBooks refused the credentials: {exc}", QUICKBOOKS
    if isinstance(exc, PsaError):
        return f"Autotask: {exc}", None
    if isinstance(exc, QuickBooksError):
        return f"QuickBooks: {exc}", None
    return f"{type(exc).__name__}: {exc}", None


async def execute(deps: Deps, run: asyncpg.Record) -> None:
    """Run (or resume) `run`; the caller holds the integration's run lock."""
    run_id = run["run_id"]
    log.info("sync run starting", run_id=str(run_id), mode=run["mode"], resumed=bool(run["progress"]))
    used: dict[str, int | None] = {}  # integration -> the settings revision this run works with
    try:
        await _steps(deps, run, used)
    except asyncio.CancelledError:
        raise  # the process is stopping: the run stays `running` and resumes in the next one
    except Exception as raised:  # noqa: BLE001 - every failure ends the run with its reason
        exc = unwrap(raised)
        if isinstance(exc, RunAborted):
            log.info("sync run stopped", run_id=str(run_id))
            return
        reason, refused = describe(exc)
        log.warning("sync run failed", run_id=str(run_id), reason=reason)
        async with deps.uow.begin() as tx:
            await fail(tx, run_id, reason[:1000], connection_failed=refused,
                       used=used if len(used) == 2 else None)


async def _steps(deps: Deps, run: asyncpg.Record, used: dict[str, int | None]) -> None:
    psa = await deps.connections.autotask()
    if psa is None:
        raise RunAborted("the Autotask integration is gone")
    used[AUTOTASK] = psa.revision
    # Only for what the PSA steps publish; the accounting steps read QuickBooks again when they begin.
    accounting = await deps.connections.quickbooks()
    step = StepRun(
        run_id=run["run_id"], since=dict(run["since"]), progress=dict(run["progress"]), uow=deps.uow,
        psa=psa.client,
        policy=PublishPolicy(numbered_by_accounting=accounting is not None,
                             default_currency=psa.settings.currency, today=datetime.now(UTC).date()),
    )

    async def directory() -> None:
        await pull(step, "organizations")
        await pull(step, "contacts")
        await _settle(deps)

    async def invoices() -> None:
        await pull(step, "invoices")
        if run["mode"] == "incremental":
            await pull(step, VOIDED_INVOICES)
            await reread_open(step)  # paid dates set in the PSA since (a full run reads every invoice anyway)

    async with asyncio.TaskGroup() as group:
        group.create_task(directory())
        for entity in ("contracts", "tickets", "opportunities"):
            group.create_task(pull(step, entity))
        group.create_task(invoices())
    for attempt in range(ACCOUNTING_PASSES):
        await _accounting(deps, step, psa.settings.currency, used)
        await _settle(deps)
        if attempt + 1 == ACCOUNTING_PASSES or \
                await integration_store.revision(deps.pool, QUICKBOOKS) == used[QUICKBOOKS]:
            break
        # QuickBooks was set (or changed) while the accounting steps ran: go over them again with it.
        log.info("quickbooks settings changed during the run; accounting steps again", run_id=str(run["run_id"]))
        step.progress = {e: p for e, p in step.progress.items() if e not in ACCOUNTING_STEPS}
        async with deps.uow.begin() as tx:
            if not await run_store.forget_progress(tx.conn, run["run_id"], list(ACCOUNTING_STEPS)):
                raise RunAborted(str(run["run_id"]))
    async with deps.uow.begin() as tx:
        await complete(tx, run["run_id"], run["started_at"], step.progress, psa.settings.sync_interval_minutes,
                       used)
    log.info("sync run completed", run_id=str(run["run_id"]),
             counts={e: p.get("fetched") for e, p in step.progress.items()})


async def _accounting(deps: Deps, step: StepRun, currency: str, used: dict[str, int | None]) -> None:
    """Read accounting back and number invoices with the QuickBooks settings as they are NOW (they may
    have been set after the run started: an Autotask PUT wakes the scheduler at once)."""
    accounting = await deps.connections.quickbooks()
    used[QUICKBOOKS] = accounting.revision if accounting is not None else None
    step.policy = replace(step.policy, numbered_by_accounting=accounting is not None)
    if accounting is None:
        return
    await accounting_steps.link_customers(step, accounting.client)
    await accounting_steps.read_invoices(step, accounting.client)
    await total_changes.follow_totals(step, accounting.client)
    await accounting_steps.number_invoices(step, accounting.client, currency)


async def _settle(deps: Deps) -> Any:
    async with deps.uow.begin() as tx:
        return await settle_organizations(tx)


def unwrap(exc: BaseException) -> BaseException:
    """The first real failure inside a TaskGroup's ExceptionGroup."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
