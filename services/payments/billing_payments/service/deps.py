"""What the payments use cases need, built once in bootstrap."""
from __future__ import annotations

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


@dataclass
class Deps:
    pool: asyncpg.Pool
    uow: UnitOfWork
    box: SecretBox
    http: aiohttp.ClientSession
    config: PaymentsSettings

    async def settings(self) -> ProcessingSettings:
        return await settings_store.load(self.pool, self.box)

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
