"""The Autotask-REST-shaped simulator as an aiohttp application."""

from __future__ import annotations

import os
from dataclasses import replace

from aiohttp import web

from ..persistence import mark_changed, persist
from . import control, snapshot
from .api import handle_api
from .config import PsaSimConfig
from .state import STATE, SimState

# Bulk seeds of 100,000 invoices are tens of megabytes of JSON.
MAX_BODY_BYTES = 512 * 1024 * 1024


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(config: PsaSimConfig | None = None,
               data_dir: str | os.PathLike[str] | None = None) -> web.Application:
    """`data_dir`: keep the tenant's data there across restarts (None: in memory only)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[mark_changed])
    # A copy: /_sim/config changes one running simulator, not the caller's object.
    state = app[STATE] = SimState(config=replace(config or PsaSimConfig()))
    persist(app, data_dir, "psa", lambda: snapshot.dump(state), lambda stored: snapshot.load(state, stored))
    app.router.add_get("/health", health)
    control.add_routes(app)
    app.router.add_route("*", "/{tail:.*}", handle_api)
    return app
