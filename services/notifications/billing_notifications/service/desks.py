"""The PSA that tickets go to: the connection stored through the API (Connect to Ticketing) when there
is one, else the PSA_* environment. A change of credentials takes effect at the next delivery."""
from __future__ import annotations

import time

import aiohttp
import asyncpg

from billing_shared.psa import AutotaskClient, RequestBudget, RetryPolicy as PsaRetryPolicy
from billing_shared.secrets import SecretBox

from billing_notifications.adapters import connection_store
from billing_notifications.adapters.psa_tickets import PsaTicketDesk
from billing_notifications.config import NotificationsSettings
from billing_notifications.domain.connection import PsaCredentials

CREDENTIALS_TTL = 5.0  # seconds a read of the stored connection is reused (other replicas see a change by then)


class PsaDesks:
    def __init__(self, pool: asyncpg.Pool, box: SecretBox | None, settings: NotificationsSettings,
                 http: aiohttp.ClientSession) -> None:
        self.pool, self.box, self.settings, self.http = pool, box, settings, http
        self._read: tuple[float, PsaCredentials | None] | None = None
        self._clients: dict[PsaCredentials, AutotaskClient] = {}

    async def credentials(self) -> PsaCredentials | None:
        now = time.monotonic()
        if self._read is None or now - self._read[0] > CREDENTIALS_TTL:
            stored = await connection_store.load(self.pool, self.box) if self.box else None
            self._read = (now, stored or self._from_environment())
        return self._read[1]

    def forget(self) -> None:
        """The stored connection changed here: read it again at once."""
        self._read = None

    def client_for(self, credentials: PsaCredentials) -> AutotaskClient:
        """One client per set of credentials: its zone, request budget and backoff are kept."""
        if credentials not in self._clients:
            s = self.settings
            self._clients[credentials] = AutotaskClient(
                self.http, username=credentials.username, secret=credentials.secret,
                integration_code=credentials.integration_code, base_url=credentials.base_url or s.psa_base_url,
                timeout=s.psa_timeout_seconds,
                retry=PsaRetryPolicy(attempts=s.psa_retry_attempts, base_delay=s.psa_retry_base_seconds,
                                     max_delay=max(s.psa_retry_base_seconds, 8.0)),
                budget=RequestBudget(min_backoff=min(0.25, s.psa_backoff_max_seconds),
                                     max_backoff=s.psa_backoff_max_seconds))
        return self._clients[credentials]

    async def client(self) -> AutotaskClient | None:
        credentials = await self.credentials()
        return self.client_for(credentials) if credentials else None

    async def desk(self) -> PsaTicketDesk | None:
        client = await self.client()
        return PsaTicketDesk(client) if client else None

    def _from_environment(self) -> PsaCredentials | None:
        s = self.settings
        if not s.psa_configured():
            return None
        assert s.psa_username and s.psa_secret and s.psa_integration_code
        return PsaCredentials(username=s.psa_username, secret=s.psa_secret.get_secret_value(),
                              integration_code=s.psa_integration_code, base_url=s.psa_base_url,
                              source="environment")
