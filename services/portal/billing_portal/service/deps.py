"""What the portal's use cases and pages need, built once in bootstrap."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from billing_shared.outbox import UnitOfWork

from billing_portal.adapters.services_api import Services
from billing_portal.config import PortalSettings
from billing_portal.domain.throttle import ThrottleLimits


@dataclass
class Deps:
    pool: asyncpg.Pool
    uow: UnitOfWork
    services: Services
    config: PortalSettings

    @property
    def session_idle(self) -> timedelta:
        return timedelta(minutes=self.config.session_idle_minutes)

    @property
    def session_max(self) -> timedelta:
        return timedelta(hours=self.config.session_max_hours)

    @property
    def throttle(self) -> ThrottleLimits:
        c = self.config
        return ThrottleLimits(c.signin_window_minutes, c.signin_failures_per_account, c.signin_failures_per_address)
