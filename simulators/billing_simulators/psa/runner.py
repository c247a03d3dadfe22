"""Run the simulator inside a test's event loop, on a free port."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator

from aiohttp import web

from .app import create_app
from .config import PsaSimConfig
from .state import STATE, SimState


@dataclass
class RunningPsaSimulator:
    url: str  # e.g. http://127.0.0.1:40123, no trailing slash
    app: web.Application

    @property
    def state(self) -> SimState:
        return self.app[STATE]

    @property
    def zone_lookup_base(self) -> str:
        """What AutotaskClient takes as base_url (zone discovery lives under it)."""
        return f"{self.url}/atservicesrest/"


@asynccontextmanager
async def running_psa_simulator(config: PsaSimConfig | None = None, *, host: str = "127.0.0.1",
                                port: int = 0) -> AsyncIterator[RunningPsaSimulator]:
    """Start on `port` (0: any free one); public_base_url becomes the bound URL."""
    app = create_app(config)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_host, bound_port = runner.addresses[0][:2]
    url = f"http://{bound_host}:{bound_port}"
    app[STATE].config.public_base_url = url
    try:
        yield RunningPsaSimulator(url=url, app=app)
    finally:
        await runner.cleanup()
