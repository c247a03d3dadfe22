"""What the notifications use cases and handlers need, built once in bootstrap."""
from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from billing_shared.outbox import UnitOfWork
from billing_shared.secrets import SecretBox

from billing_notifications.config import NotificationsSettings
from billing_notifications.service.desks import PsaDesks


@dataclass
class Deps:
    pool: asyncpg.Pool
    uow: UnitOfWork
    box: SecretBox | None  # None without SECRETS_KEY: no connection can be stored
    desks: PsaDesks
    config: NotificationsSettings
