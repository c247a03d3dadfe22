"""What the payments use cases need, built once in bootstrap."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime

import aiohttp
import asyncpg

from billing_shared.outbox import UnitOfWork
from billing_shared.secrets import SecretBox

from billing_payments.adapters import settings_store
from billing_payments.adapters.gateway import NmiGateway
from billing_payments.config import PaymentsSettings
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.settings import ProcessingSettings


SETTINGS_TTL = 2.0


@dataclass
class Deps:
    pool: asyncpg.Pool
    uow: UnitOfWork
    box: SecretBox
    http: aiohttp.ClientSession
    config: PaymentsSettings

    _cached: tuple[float, ProcessingSettings] | None = None

    async def settings(self) -> ProcessingSettings:
        """Read often, changed rarely: cached for a moment (other replicas see a change within
        SETTINGS_TTL seconds; this one at once, see `forget_settings`)."""
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > SETTINGS_TTL:
            self._cached = (now, await settings_store.load(self.pool, self.box))
        return self._cached[1]

    def forget_settings(self) -> None:
        self._cached = None

    def gateway(self, settings: ProcessingSettings) -> NmiGateway:
        if not settings.private_key:
            raise PaymentError("processing_inactive", "no gateway keys are configured")
        return NmiGateway(self.http, self.config.gateway_base_url, settings.private_key,
                          timeout_seconds=self.config.gateway_timeout_seconds)

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    @staticmethod
    def today() -> date:
        return datetime.now(UTC).date()
