"""The only place the sync service's concrete adapters, consumers and background tasks are chosen."""
from __future__ import annotations

import aiohttp
from aiohttp import web

from billing_shared.events.catalog import BILLING_PAYMENTS, UPSTREAM_INVOICES
from billing_shared.runtime import RUNTIME, Runtime
from billing_shared.secrets import SecretBox
from billing_shared.web.app import create_app
from billing_shared.web.deps import install_slot

from billing_sync.adapters.connections import Connections
from billing_sync.config import SyncSettings
from billing_sync.entrypoints.asyncapi import SURFACE
from billing_sync.entrypoints.consumers import AUTOPAY_CHECK_TYPES, PAYMENT_HANDLERS, UPSTREAM_INVOICE_HANDLERS
from billing_sync.entrypoints.http import routes
from billing_sync.service.autopay_checks import balance_check_handler
from billing_sync.service.books_check import BooksCheckWorker
from billing_sync.service.deps import Deps
from billing_sync.service.scheduler import Scheduler
from billing_sync.service.upstream_numbering import UpstreamNumbering
from billing_sync.service.writeback import WritebackWorker

# Generous: a run reads pages of 500 rows; a PDF may take a while.
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=120, connect=10)


def build_app(settings: SyncSettings) -> web.Application:
    app = create_app("billing-link sync", settings, routes, events=SURFACE)
    key = settings.secrets_key.get_secret_value() if settings.secrets_key else None
    box = SecretBox(key) if key else None
    runtime = Runtime(name="sync", schema="sync", package="billing_sync", settings=settings)
    app[RUNTIME] = runtime
    slot = install_slot(app)

    async def wire(rt: Runtime) -> None:
        session = aiohttp.ClientSession(timeout=HTTP_TIMEOUT)
        rt.close_at_stop(session.close)  # after the tasks that use it have stopped
        connections = Connections(rt.pool, box, settings, session)
        deps = slot.fill(Deps(pool=rt.pool, uow=rt.uow, box=box, connections=connections, config=settings))
        rt.consume("sync-upstream-invoices", [UPSTREAM_INVOICES], UPSTREAM_INVOICE_HANDLERS)
        rt.consume("sync-payment-writeback", [BILLING_PAYMENTS], PAYMENT_HANDLERS)
        # Its own group: a QuickBooks read right before an autopay charge never waits behind the write-back.
        rt.consume("sync-autopay-checks", [BILLING_PAYMENTS],
                   dict.fromkeys(AUTOPAY_CHECK_TYPES, balance_check_handler(deps)))
        rt.spawn("sync-scheduler", Scheduler(deps).run)
        rt.spawn("payment-writeback", WritebackWorker(deps).run)
        rt.spawn("upstream-numbering", UpstreamNumbering(deps).run)
        rt.spawn("books-check", BooksCheckWorker(deps).run)

    runtime.install(app, wire)
    return app
