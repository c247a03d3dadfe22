"""The gateway simulator's aiohttp application."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web

from ..persistence import mark_changed, persist
from . import snapshot
from .config import GatewaySimConfig
from . import collect
from .control import routes as control_routes
from .query import handle_query
from .state import STATE_KEY, SimState
from .transact import handle_transact
from .webhooks import HTTP_KEY

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def api_latency(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Slow down the real API paths only, never the /_sim/ controls."""
    delay_ms = request.app[STATE_KEY].config.latency_ms
    if delay_ms > 0 and request.path.startswith("/api/"):
        await asyncio.sleep(delay_ms / 1000)
    return await handler(request)


async def _webhook_client(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=app[STATE_KEY].config.webhook_timeout_seconds)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        app[HTTP_KEY] = http
        yield


def create_app(config: GatewaySimConfig | None = None,
               data_dir: str | os.PathLike[str] | None = None) -> web.Application:
    """`data_dir`: keep the state there across restarts (None: in memory only)."""
    app = web.Application(middlewares=[mark_changed, api_latency])
    state = app[STATE_KEY] = SimState(config or GatewaySimConfig())
    persist(app, data_dir, "gateway", lambda: snapshot.dump(state), lambda stored: snapshot.load(state, stored))
    app.cleanup_ctx.append(_webhook_client)
    app.router.add_post("/api/transact.php", handle_transact)
    app.router.add_post("/api/query.php", handle_query)
    app.router.add_routes(control_routes)
    collect.install(app)
    return app
