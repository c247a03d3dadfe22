"""The Autotask-REST-shaped simulator as an aiohttp application."""

from __future__ import annotations

from dataclasses import replace

from aiohttp import web

from . import control
from .api import handle_api
from .config import PsaSimConfig
from .state import STATE, SimState

# Bulk seeds of 100,000 invoices are tens of megabytes of JSON.
MAX_BODY_BYTES = 512 * 1024 * 1024


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(config: PsaSimConfig | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    # A copy: /_sim/config changes one running simulator, not the caller's object.
    app[STATE] = SimState(config=replace(config or PsaSimConfig()))
    app.router.add_get("/health", health)
    control.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", handle_api)
    return app
