"""The only place the payments service's concrete adapters and consumers are chosen."""
from __future__ import annotations

import aiohttp
from aiohttp import web

from billing_shared.events.catalog import BILLING_DIRECTORY, BILLING_INVOICES, BILLING_SYNC
from billing_shared.runtime import RUNTIME, Runtime
from billing_shared.secrets import SecretBox
from billing_shared.web.app import create_app
from billing_shared.web.deps import install_slot

from billing_payments.config import PaymentsSettings
from billing_payments.entrypoints.asyncapi import SURFACE
from billing_payments.entrypoints.consumers import AUTOPAY_HANDLERS, DIRECTORY_HANDLERS, INVOICE_HANDLERS, SYNC_HANDLERS
from billing_payments.entrypoints.http import routes
from billing_payments.entrypoints.web_support import payment_errors
from billing_payments.service.autopay import AutopayScheduler
from billing_payments.service.deps import Deps
from billing_payments.service import reconciliation
from billing_payments.service.reconciler import run_reconciler


def build_app(settings: PaymentsSettings) -> web.Application:
    if settings.secrets_key is None:
        raise SystemExit("SECRETS_KEY is required: the gateway keys are stored encrypted with it")
    box = SecretBox(settings.secrets_key.get_secret_value())
    app = create_app("billing-link payments", settings, routes, middlewares=(payment_errors,), events=SURFACE)
    runtime = Runtime(name="payments", schema="payments", package="billing_payments", settings=settings)
    app[RUNTIME] = runtime
    slot = install_slot(app)

    async def wire(rt: Runtime) -> None:
        http = aiohttp.ClientSession()
        rt.close_at_stop(http.close)
        deps = slot.fill(Deps(pool=rt.pool, uow=rt.uow, box=box, http=http, config=settings))
        rt.consume("payments-invoices", [BILLING_INVOICES], INVOICE_HANDLERS)
        rt.consume("payments-directory", [BILLING_DIRECTORY], DIRECTORY_HANDLERS)
        rt.consume("payments-reconciliation", [BILLING_SYNC], SYNC_HANDLERS)
        rt.spawn("reconciler", lambda: run_reconciler(deps))
        rt.consume("payments-autopay", [BILLING_SYNC], AUTOPAY_HANDLERS)
        rt.spawn("autopay", AutopayScheduler(deps).run)
        rt.spawn("reconciliation", lambda: reconciliation.run_worker(deps))

    runtime.install(app, wire)
    return app
