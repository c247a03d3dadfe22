"""The only place the notifications service's concrete adapters and consumers are chosen."""
from __future__ import annotations

from aiohttp import web

from billing_shared.events.catalog import BILLING_DIRECTORY, BILLING_INVOICES
from billing_shared.runtime import RUNTIME, Runtime
from billing_shared.web.app import create_app

from billing_notifications.config import NotificationsSettings
from billing_notifications.entrypoints.consumers import DIRECTORY_HANDLERS, INVOICE_HANDLERS
from billing_notifications.entrypoints.http import routes


async def wire(runtime: Runtime) -> None:
    runtime.consume("notifications-directory", [BILLING_DIRECTORY], DIRECTORY_HANDLERS)
    runtime.consume("notifications-invoices", [BILLING_INVOICES], INVOICE_HANDLERS)


def build_app(settings: NotificationsSettings) -> web.Application:
    app = create_app("billing-link notifications", settings, routes)
    runtime = Runtime(name="notifications", schema="notifications", package="billing_notifications",
                      settings=settings)
    app[RUNTIME] = runtime
    runtime.install(app, wire)
    return app
