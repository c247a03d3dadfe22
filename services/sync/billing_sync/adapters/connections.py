"""The PSA and accounting clients of this process, built from the stored integration settings.

One client per integration, rebuilt when the settings' revision moves (a PUT or a DELETE). One
Autotask request budget for the whole process: every call to the tenant's database shares it. The
QuickBooks refresh token rotates; each new one is sealed into the integration row before use (same
revision: the client that rotated it holds it already). Another replica still holding the previous
token takes the stored one when QuickBooks refuses its own (invalid_grant), and tries again once.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Generic, TypeVar

import aiohttp
import asyncpg

from billing_shared.psa import DEFAULT_BASE_URL, AutotaskClient, RequestBudget
from billing_shared.secrets import SecretBox

from billing_sync.adapters import integration_store
from billing_sync.adapters.accounting import Accounting
from billing_sync.adapters.psa import PsaSource
from billing_sync.adapters.quickbooks import QuickBooksClient, TokenProvider
from billing_sync.adapters.quickbooks_pacing import Pacer, Spacing
from billing_sync.config import SyncSettings
from billing_sync.domain.integrations import (
    AUTOTASK, QUICKBOOKS, AutotaskSettings, QuickBooksSettings, token_url_for,
)

S = TypeVar("S")
C = TypeVar("C")


@dataclass(frozen=True)
class Connected(Generic[S, C]):
    settings: S
    client: C
    revision: int


def autotask_settings(stored: integration_store.StoredIntegration) -> AutotaskSettings:
    return AutotaskSettings(**stored.settings, secret=stored.secrets.get("secret", ""))


def quickbooks_settings(stored: integration_store.StoredIntegration) -> QuickBooksSettings:
    return QuickBooksSettings(**stored.settings, client_secret=stored.secrets.get("client_secret", ""),
                              refresh_token=stored.secrets.get("refresh_token", ""))


class Connections:
    def __init__(self, pool: asyncpg.Pool, box: SecretBox | None, settings: SyncSettings,
                 session: aiohttp.ClientSession) -> None:
        self.pool = pool
        self.box = box
        self.settings = settings
        self.session = session
        self.budget = RequestBudget(hourly_limit=settings.psa_hourly_limit, reserve=settings.psa_reserve,
                                    max_concurrent=settings.psa_max_concurrent)
        self.pacer = Pacer()  # one per process: every call to the realm counts against the same limits
        self.batch_pacer = Spacing()  # and every batch against its 40 a minute
        self._psa: Connected[AutotaskSettings, PsaSource] | None = None
        self._accounting: Connected[QuickBooksSettings, Accounting] | None = None
        self._lock = asyncio.Lock()

    def require_box(self) -> SecretBox:
        if self.box is None:
            raise RuntimeError("SECRETS_KEY is not set: sync cannot store or read integration secrets")
        return self.box

    # -- the PSA -------------------------------------------------------------
    def psa_base_url(self, configured: str | None) -> str:
        return configured or self.settings.psa_base_url or DEFAULT_BASE_URL

    def psa_for(self, settings: AutotaskSettings) -> PsaSource:
        return PsaSource(AutotaskClient(
            self.session, username=settings.username, secret=settings.secret,
            integration_code=settings.integration_code, base_url=self.psa_base_url(settings.base_url),
            budget=self.budget))

    async def autotask(self) -> Connected[AutotaskSettings, PsaSource] | None:
        async with self._lock:
            revision = await integration_store.revision(self.pool, AUTOTASK)
            if revision is None:
                self._psa = None
            elif self._psa is None or self._psa.revision != revision:
                stored = await integration_store.load(self.pool, self.require_box(), AUTOTASK)
                if stored is None:
                    return None
                settings = autotask_settings(stored)
                self._psa = Connected(settings, self.psa_for(settings), stored.revision)
            return self._psa

    # -- accounting ----------------------------------------------------------
    def accounting_base_url(self, configured: str | None) -> str:
        base = configured or self.settings.accounting_base_url
        if not base:
            raise ValueError("the QuickBooks integration has no base_url and ACCOUNTING_BASE_URL is not set")
        return base

    def token_url(self, settings: QuickBooksSettings) -> str:
        return (settings.token_url or self.settings.quickbooks_token_url
                or token_url_for(self.accounting_base_url(settings.base_url)))

    def accounting_for(self, settings: QuickBooksSettings, *, persist_rotation: bool = True) -> Accounting:
        async def on_rotate(new_token: str) -> None:
            if persist_rotation:
                await integration_store.replace_secret(self.pool, self.require_box(), QUICKBOOKS,
                                                       "refresh_token", new_token)

        async def stored_token() -> str | None:
            """The refresh token as stored now: another replica may have rotated (and stored) it."""
            if not persist_rotation:
                return None
            stored = await integration_store.load(self.pool, self.require_box(), QUICKBOOKS)
            return stored.secrets.get("refresh_token") if stored else None

        tokens = TokenProvider(self.session, token_url=self.token_url(settings), client_id=settings.client_id,
                               client_secret=settings.client_secret, refresh_token=settings.refresh_token,
                               on_rotate=on_rotate, stored_token=stored_token)
        return Accounting(QuickBooksClient(
            self.session, base_url=self.accounting_base_url(settings.base_url), realm_id=settings.realm_id,
            token_provider=tokens, throttle_wait_seconds=self.settings.quickbooks_throttle_wait_seconds,
            pacer=self.pacer, batch_pacer=self.batch_pacer), realm_id=settings.realm_id)

    async def quickbooks(self) -> Connected[QuickBooksSettings, Accounting] | None:
        async with self._lock:
            revision = await integration_store.revision(self.pool, QUICKBOOKS)
            if revision is None:
                self._accounting = None
            elif self._accounting is None or self._accounting.revision != revision:
                stored = await integration_store.load(self.pool, self.require_box(), QUICKBOOKS)
                if stored is None:
                    return None
                settings = quickbooks_settings(stored)
                self._accounting = Connected(settings, self.accounting_for(settings), stored.revision)
            return self._accounting
