"""The only place the payments service's concrete adapters and consumers are chosen."""
from __future__ import annotations

from aiohttp import web

from billing_shared.events.catalog import BILLING_INVOICES
from billing_shared.runtime import RUNTIME, Runtime
from billing_shared.web.app import create_app
from billing_shared.web.routes import ApiRoutes

from billing_payments.config import PaymentsSettings
from billing_payments.entrypoints import http_invoices
from billing_payments.entrypoints.consumers import INVOICE_HANDLERS


def all_routes() -> ApiRoutes:
    routes = ApiRoutes()
    for module in (http_invoices,):
        routes.include(module.routes)
    return routes


async def wire(runtime: Runtime) -> None:
    runtime.consume("payments-invoices", [BILLING_INVOICES], INVOICE_HANDLERS)


def build_app(settings: PaymentsSettings) -> web.Application:
    app = create_app("billing-link payments", settings, all_routes())
    runtime = Runtime(name="payments", schema="payments", package="billing_payments", settings=settings)
    app[RUNTIME] = runtime
    runtime.install(app, wire)
    return app
