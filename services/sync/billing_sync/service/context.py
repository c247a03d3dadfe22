"""What sync's background work and HTTP handlers share in one process (filled in when it starts)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from aiohttp import web

from billing_shared.outbox import UnitOfWork
from billing_shared.runtime import Runtime
from billing_shared.secrets import SecretBox

from billing_sync.adapters.connections import Connections
from billing_sync.config import SyncSettings


@dataclass
class SyncContext:
    settings: SyncSettings
    box: SecretBox | None = None
    runtime: Runtime | None = None
    connections: Connections | None = None
    # Set to make the scheduler look for work now (a run was requested, an integration changed).
    runs_wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def uow(self) -> UnitOfWork:
        assert self.runtime is not None
        return self.runtime.uow

    @property
    def conns(self) -> Connections:
        assert self.connections is not None
        return self.connections


SYNC = web.AppKey("sync_context", SyncContext)
