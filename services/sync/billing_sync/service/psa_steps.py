"""A run's PSA steps: each entity read page by page in id order, each page stored (and what changed
published) in one transaction with the run's checkpoint, so a run resumed after a crash goes on from
the last committed page and publishes nothing twice."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import structlog

from billing_shared.outbox import Tx, UnitOfWork
from billing_shared.psa import F, Filter, changed_since

from billing_sync.adapters import directory_store, psa_invoice_store
from billing_sync.adapters.psa import INVOICE_FIELDS, PAGE, PsaSource
from billing_sync.domain import psa as rows
from billing_sync.domain.runs import OPEN_INVOICES, PSA_ENTITIES, VOIDED_INVOICES, advance
from billing_sync.service.directory import publish_contacts
from billing_sync.service.publishing import PublishPolicy, republish
from billing_sync.service.runs import save_progress

log = structlog.get_logger(__name__)

T = TypeVar("T")
Store = Callable[[Tx, list[Any], PublishPolicy], Awaitable[None]]


async def _organizations(tx: Tx, items: list[rows.Organization], _: PublishPolicy) -> None:
    await directory_store.upsert_organizations(tx.conn, items)


async def _contacts(tx: Tx, items: list[rows.Contact], _: PublishPolicy) -> None:
    await publish_contacts(tx, await directory_store.upsert_contacts(tx.conn, items))


async def _contracts(tx: Tx, items: list[rows.Contract], _: PublishPolicy) -> None:
    await directory_store.upsert_contracts(tx.conn, items)


async def _tickets(tx: Tx, items: list[rows.Ticket], _: PublishPolicy) -> None:
    await directory_store.upsert_tickets(tx.conn, items)


async def _opportunities(tx: Tx, items: list[rows.Opportunity], _: PublishPolicy) -> None:
    await directory_store.upsert_opportunities(tx.conn, items)


async def _invoices(tx: Tx, items: list[rows.PsaInvoice], policy: PublishPolicy) -> None:
    await republish(tx, await psa_invoice_store.upsert(tx.conn, items), policy)


@dataclass(frozen=True)
class EntitySpec:
    parse: Callable[[dict[str, Any]], Any]
    store: Store
    include_fields: Sequence[str] | None = None


SPECS: dict[str, EntitySpec] = {
    "organizations": EntitySpec(rows.organization, _organizations),
    "contacts": EntitySpec(rows.contact, _contacts),
    "contracts": EntitySpec(rows.contract, _contracts),
    "tickets": EntitySpec(rows.ticket, _tickets),
    "opportunities": EntitySpec(rows.opportunity, _opportunities),
    "invoices": EntitySpec(rows.invoice, _invoices, INVOICE_FIELDS),
    VOIDED_INVOICES: EntitySpec(rows.invoice, _invoices, INVOICE_FIELDS),
}


@dataclass
class StepRun:
    """What every step of one run needs."""

    run_id: Any
    since: dict[str, Any]
    progress: dict[str, Any]
    uow: UnitOfWork
    psa: PsaSource
    policy: PublishPolicy


def filters_for(entity: str, since: dict[str, Any]) -> list[Filter]:
    """Incremental: the entity's change field after `since`; invoices by id; voids by voidedDate."""
    if entity == "invoices":
        after = since.get("invoices_after_id")
        return [F.gt("id", after)] if after else []
    if entity == VOIDED_INVOICES:
        stamp = since.get(VOIDED_INVOICES)
        return [F.eq("isVoided", True)] + ([F.gt("voidedDate", datetime.fromisoformat(stamp))] if stamp else [])
    stamp = since.get(entity)
    return [changed_since(PSA_ENTITIES[entity], datetime.fromisoformat(stamp))] if stamp else []


def _parse(spec: EntitySpec, entity: str, page: list[dict[str, Any]]) -> list[Any]:
    parsed = []
    for raw in page:
        try:
            parsed.append(spec.parse(raw))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("psa row skipped", entity=entity, id=raw.get("id"), error=str(exc))
    return parsed


_END = object()


async def read_ahead(pages: AsyncIterator[T]) -> AsyncIterator[T]:
    """`pages`, with the next page read while the caller stores the one it has: reading and storing take
    turns otherwise, each waiting on the other. One page ahead at most; the caller still commits in order."""
    source = aiter(pages)
    upcoming: asyncio.Future[Any] = asyncio.ensure_future(anext(source, _END))
    try:
        while (page := await upcoming) is not _END:
            upcoming = asyncio.ensure_future(anext(source, _END))
            yield page
    finally:  # the caller stopped or failed: the read under way is dropped, whatever it brings
        upcoming.cancel()
        await asyncio.wait([upcoming])
        if not upcoming.cancelled():
            upcoming.exception()  # retrieved: it no longer matters
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


async def pull(step: StepRun, entity: str) -> None:
    """Read one entity from its checkpoint to the end, committing page by page."""
    state = step.progress.get(entity) or {}
    if state.get("done"):
        return
    spec = SPECS[entity]
    psa_entity = "Invoices" if entity == VOIDED_INVOICES else PSA_ENTITIES[entity]
    filters = filters_for(entity, step.since)
    total: int | None = state.get("total")
    counting: asyncio.Task[int] | None = None
    try:
        pages = step.psa.pages(psa_entity, filters, state.get("after_id"), spec.include_fields)
        async with contextlib.aclosing(read_ahead(pages)) as ahead:
            async for page in ahead:
                if total is None and counting is None and len(page) == PAGE:
                    counting = asyncio.create_task(step.psa.count(psa_entity, filters))  # more than a page: count
                if counting is not None and counting.done():
                    total = counting.result()
                items = _parse(spec, entity, page)
                stamps = [getattr(i, "changed_at", None) for i in items]
                async with step.uow.begin() as tx:
                    await spec.store(tx, items, step.policy)
                    step.progress = advance(step.progress, entity, fetched=len(page), last_id=int(page[-1]["id"]),
                                            changed_at=max((s for s in stamps if s), default=None), total=total)
                    await save_progress(tx, step.run_id, entity, step.progress[entity])
        if counting is not None:
            total = await counting
    finally:
        if counting is not None and not counting.done():
            counting.cancel()
    fetched = int((step.progress.get(entity) or {}).get("fetched", 0))
    async with step.uow.begin() as tx:
        step.progress = advance(step.progress, entity, fetched=0, last_id=None, changed_at=None,
                                total=total if total is not None else fetched, done=True)
        await save_progress(tx, step.run_id, entity, step.progress[entity])


async def reread_open(step: StepRun) -> None:
    """Invoices have no change field, so a paid date set in the PSA (paid by other means) shows only when
    the invoice is read again: read the ones we hold open again, a page of ids at a time, each page
    stored with its checkpoint like any other step."""
    spec = SPECS["invoices"]
    state = step.progress.get(OPEN_INVOICES) or {}
    if state.get("done"):
        return
    after = int(state.get("after_id") or 0)
    while True:
        async with step.uow.pool.acquire() as conn:
            ids = await psa_invoice_store.open_external_ids(conn, after, PAGE)
        if not ids:
            break
        items = []
        async for page in step.psa.pages("Invoices", [F.in_("id", ids)], None, spec.include_fields):
            items.extend(_parse(spec, OPEN_INVOICES, page))
        async with step.uow.begin() as tx:
            await spec.store(tx, items, step.policy)
            step.progress = advance(step.progress, OPEN_INVOICES, fetched=len(items), last_id=ids[-1], changed_at=None)
            await save_progress(tx, step.run_id, OPEN_INVOICES, step.progress[OPEN_INVOICES])
        after = ids[-1]
    async with step.uow.begin() as tx:
        fetched = int((step.progress.get(OPEN_INVOICES) or {}).get("fetched", 0))
        step.progress = advance(step.progress, OPEN_INVOICES, fetched=0, last_id=None, changed_at=None,
                                total=fetched, done=True)
        await save_progress(tx, step.run_id, OPEN_INVOICES, step.progress[OPEN_INVOICES])
