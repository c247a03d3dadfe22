"""The only place the portal's concrete adapters, pages and background tasks are chosen."""
from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from billing_shared.events.catalog import BILLING_DIRECTORY
from billing_shared.runtime import RUNTIME, Runtime
from billing_shared.web.app import HEALTH_CHECKS, add_asyncapi, health, metrics, metrics_middleware
from billing_shared.web.deps import install_slot
from billing_shared.web.openapi import build_openapi

from billing_portal.adapters import session_store
from billing_portal.adapters.services_api import ServiceClient, Services
from billing_portal.config import PortalSettings
from billing_portal.entrypoints.asyncapi import SURFACE
from billing_portal.entrypoints.consumers import DIRECTORY_HANDLERS
from billing_portal.entrypoints.http import add_pages
from billing_portal.entrypoints.web_support import csrf_check, errors_as_pages, security_headers, sessions
from billing_portal.service.deps import Deps
from billing_portal.service.seeding import seed_users

HERE = Path(__file__).parent
SWEEP_SECONDS = 600


def services(settings: PortalSettings, http: aiohttp.ClientSession) -> Services:
    key = settings.identity_key.get_secret_value()  # type: ignore[union-attr]  (required by the settings)
    timeout = settings.service_timeout_seconds

    def client(name: str, url: str) -> ServiceClient:
        return ServiceClient(name, url, http, key, timeout_seconds=timeout)

    return Services(sync=client("sync", settings.sync_url), payments=client("payments", settings.payments_url),
                    notifications=client("notifications", settings.notifications_url))


def build_app(settings: PortalSettings) -> web.Application:
    app = web.Application(middlewares=[metrics_middleware, security_headers, errors_as_pages, sessions, csrf_check])
    aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    app[HEALTH_CHECKS] = {}
    spec = build_openapi("billing-link portal (pages; no JSON API)", "1", [])

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(spec)

    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    add_asyncapi(app, SURFACE)
    app.router.add_static("/static/", HERE / "static")
    add_pages(app)

    runtime = Runtime(name="portal", schema="portal", package="billing_portal", settings=settings)
    app[RUNTIME] = runtime
    slot = install_slot(app)

    async def wire(rt: Runtime) -> None:
        http = aiohttp.ClientSession()
        rt.close_at_stop(http.close)
        deps = slot.fill(Deps(pool=rt.pool, uow=rt.uow, services=services(settings, http), config=settings))
        rt.consume("portal-directory", [BILLING_DIRECTORY], DIRECTORY_HANDLERS)
        await seed_users(deps, settings.portal_users)

        async def sweep_sessions() -> None:
            while True:
                await session_store.sweep(deps.pool, deps.session_idle)
                await asyncio.sleep(SWEEP_SECONDS)

        rt.spawn("session-sweeper", sweep_sessions)

    runtime.install(app, wire)
    return app
