"""The accounting simulator as one aiohttp application."""

from __future__ import annotations

from aiohttp import web

from . import api, control
from .config import AccountingSimConfig
from .guard import api_guard
from .oauth import token_endpoint
from .state import SIM_STATE, SimState


async def _token_endpoint(request: web.Request) -> web.Response:
    return await token_endpoint(request, request.app[SIM_STATE].tokens)


def create_app(config: AccountingSimConfig | None = None) -> web.Application:
    app = web.Application(middlewares=[api_guard])
    app[SIM_STATE] = SimState.create(config or AccountingSimConfig())
    app.router.add_post("/oauth2/v1/tokens/bearer", _token_endpoint)
    api.add_routes(app)
    control.add_routes(app)
    return app
