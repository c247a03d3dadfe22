"""The accounting simulator as one aiohttp application."""

from __future__ import annotations

import os

from aiohttp import web

from ..persistence import mark_changed, persist
from . import api, batch, control, snapshot
from .config import AccountingSimConfig
from .guard import api_guard
from .oauth import token_endpoint
from .state import SIM_STATE, SimState


async def _token_endpoint(request: web.Request) -> web.Response:
    return await token_endpoint(request, request.app[SIM_STATE].tokens)


def create_app(config: AccountingSimConfig | None = None,
               data_dir: str | os.PathLike[str] | None = None) -> web.Application:
    """`data_dir`: keep the state there across restarts (None: in memory only)."""
    app = web.Application(middlewares=[mark_changed, api_guard])
    state = app[SIM_STATE] = SimState.create(config or AccountingSimConfig())
    persist(app, data_dir, "accounting", lambda: snapshot.dump(state), lambda stored: snapshot.load(state, stored))
    app.router.add_post("/oauth2/v1/tokens/bearer", _token_endpoint)
    batch.add_routes(app)
    api.add_routes(app)
    control.add_routes(app)
    return app
