"""What sync's use cases, background workers and HTTP handlers need, built once in bootstrap."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from billing_shared.outbox import UnitOfWork
from billing_shared.secrets import SecretBox

from billing_sync.adapters.connections import Connections
from billing_sync.config import SyncSettings


@dataclass
class Deps:
    pool: asyncpg.Pool
    uow: UnitOfWork
    box: SecretBox | None  # None without SECRETS_KEY: integrations cannot be stored then
    connections: Connections
    config: SyncSettings
    # Set to make the scheduler look for work now (a run was requested, an integration changed).
    runs_wake: asyncio.Event = field(default_factory=asyncio.Event)
