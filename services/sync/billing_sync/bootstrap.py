"""The only place the sync service's concrete adapters, consumers and background tasks are chosen."""
from __future__ import annotations

import aiohttp
from aiohttp import web

from billing_shared.events.catalog import BILLING_PAYMENTS, UPSTREAM_INVOICES
from billing_shared.runtime import RUNTIME, Runtime
from billing_shared.secrets import SecretBox
from billing_shared.web.app import create_app

from billing_sync.adapters.connections import Connections
from billing_sync.config import SyncSettings
from billing_sync.entrypoints.consumers import PAYMENT_HANDLERS, UPSTREAM_INVOICE_HANDLERS
from billing_sync.entrypoints.http import all_routes
from billing_sync.service.context import SYNC, SyncContext
from billing_sync.service.scheduler import Scheduler
from billing_sync.service.writeback import WritebackWorker

# Generous: a run reads pages of 500 rows; a PDF may take a while.
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=120, connect=10)


def build_app(settings: SyncSettings) -> web.Application:
    app = create_app("billing-link sync", settings, all_routes())
    key = settings.secrets_key.get_secret_value() if settings.secrets_key else None
    ctx = SyncContext(settings=settings, box=SecretBox(key) if key else None)
    app[SYNC] = ctx
    runtime = Runtime(name="sync", schema="sync", package="billing_sync", settings=settings)
    app[RUNTIME] = runtime

    async def wire(rt: Runtime) -> None:
        session = aiohttp.ClientSession(timeout=HTTP_TIMEOUT)
        rt.close_at_stop(session.close)  # after the tasks that use it have stopped
        ctx.runtime = rt
        ctx.connections = Connections(rt.pool, ctx.box, settings, session)
        rt.consume("sync-upstream-invoices", [UPSTREAM_INVOICES], UPSTREAM_INVOICE_HANDLERS)
        rt.consume("sync-payment-writeback", [BILLING_PAYMENTS], PAYMENT_HANDLERS)
        rt.spawn("sync-scheduler", Scheduler(ctx).run)
        rt.spawn("payment-writeback", WritebackWorker(ctx).run)

    runtime.install(app, wire)
    return app
