"""The only place the sync service's concrete adapters and consumers are chosen."""
from __future__ import annotations

from aiohttp import web

from billing_shared.events.catalog import UPSTREAM_INVOICES
from billing_shared.runtime import RUNTIME, Runtime
from billing_shared.web.app import create_app

from billing_sync.config import SyncSettings
from billing_sync.entrypoints.consumers import UPSTREAM_INVOICE_HANDLERS
from billing_sync.entrypoints.http import routes


async def wire(runtime: Runtime) -> None:
    runtime.consume("sync-upstream-invoices", [UPSTREAM_INVOICES], UPSTREAM_INVOICE_HANDLERS)


def build_app(settings: SyncSettings) -> web.Application:
    app = create_app("billing-link sync", settings, routes)
    runtime = Runtime(name="sync", schema="sync", package="billing_sync", settings=settings)
    app[RUNTIME] = runtime
    runtime.install(app, wire)
    return app
