"""OAuth 2.0 access tokens for QuickBooks Online, refreshed before they expire.

QuickBooks rotates the refresh token: every refresh may hand back a new one and the
old one dies soon after. The new token is given to `on_rotate` (which stores it,
encrypted) BEFORE the new access token is used, so a crash can never leave us with
only a dead refresh token on disk. Several processes share one stored token: when
QuickBooks refuses ours (invalid_grant) and `stored_token` gives another, another
process rotated it; the refresh is tried once more with that one.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable

import aiohttp
import structlog
from pydantic import SecretStr

from .quickbooks_errors import QuickBooksAuthError, QuickBooksUnavailable

log = structlog.get_logger(__name__)

OnRotate = Callable[[str], Awaitable[None]]
# The refresh token as stored now (None: none stored). Another process sharing the integration may
# have rotated it since this one read it: the old one then dies, and QuickBooks answers invalid_grant.
StoredToken = Callable[[], Awaitable[str | None]]


class TokenProvider:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        token_url: str,
        client_id: str,
        client_secret: str | SecretStr,
        refresh_token: str | SecretStr,
        on_rotate: OnRotate,
        stored_token: StoredToken | None = None,
        refresh_margin_seconds: float = 60.0,
        request_timeout_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = SecretStr(_reveal(client_secret))
        self._refresh_token = SecretStr(_reveal(refresh_token))
        self._on_rotate = on_rotate
        self._stored_token = stored_token
        self._margin = refresh_margin_seconds
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_seconds)
        self._clock = clock
        self._access: SecretStr | None = None
        self._access_valid_until = 0.0
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TokenProvider(token_url={self._token_url!r}, client_id={self._client_id!r})"

    async def access_token(self) -> str:
        """A usable access token, refreshed first when it is missing or about to expire."""
        if self._usable():
            return self._access.get_secret_value()  # type: ignore[union-attr]
        async with self._lock:
            if not self._usable():  # another task may have refreshed while we waited
                await self._refresh_locked()
            return self._access.get_secret_value()  # type: ignore[union-attr]

    async def refresh_rejected(self, rejected: str) -> str:
        """QuickBooks answered 401 to `rejected`: refresh, unless another task already did."""
        async with self._lock:
            current = self._access.get_secret_value() if self._access else None
            if current is None or current == rejected or not self._usable():
                await self._refresh_locked()
            return self._access.get_secret_value()  # type: ignore[union-attr]

    def _basic_auth(self) -> str:
        return _basic_auth_header(self._client_id, self._client_secret.get_secret_value())

    def _usable(self) -> bool:
        return self._access is not None and self._clock() < self._access_valid_until

    async def _refresh_locked(self) -> None:
        try:
            body = await self._post_refresh()
        except QuickBooksAuthError as refused:
            # Another process may have rotated the token (and stored the new one): take it, once.
            if refused.reason != "invalid_grant" or self._stored_token is None:
                raise
            stored = await self._stored_token()
            if not stored or stored == self._refresh_token.get_secret_value():
                raise
            log.info("quickbooks.refresh_token_reloaded")
            self._refresh_token = SecretStr(stored)
            body = await self._post_refresh()
        try:
            access = str(body["access_token"])
            expires_in = float(body.get("expires_in", 3600))
            new_refresh = str(body.get("refresh_token") or "")
        except (KeyError, TypeError, ValueError):
            raise QuickBooksUnavailable("QuickBooks token endpoint answered without an access token") from None
        # Until the new refresh token is stored, the cached access token stays
        # empty: if on_rotate fails, the next call refreshes (and stores) again.
        self._access = None
        rotated = bool(new_refresh) and new_refresh != self._refresh_token.get_secret_value()
        if rotated:
            self._refresh_token = SecretStr(new_refresh)
            await self._on_rotate(new_refresh)
        self._access = SecretStr(access)
        margin = min(self._margin, expires_in / 2)
        self._access_valid_until = self._clock() + expires_in - margin
        log.info("quickbooks.token_refreshed", refresh_token_rotated=rotated, expires_in=expires_in)

    async def _post_refresh(self) -> dict:
        form = {"grant_type": "refresh_token", "refresh_token": self._refresh_token.get_secret_value()}
        try:
            async with self._session.post(
                self._token_url,
                data=form,
                headers={"Accept": "application/json", "Authorization": self._basic_auth()},
                timeout=self._timeout,
            ) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = {}
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise QuickBooksUnavailable(
                f"QuickBooks token endpoint unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        if status == 200 and isinstance(body, dict):
            return body
        error = str(body.get("error", "")) if isinstance(body, dict) else ""
        if status >= 500 or status == 429:
            raise QuickBooksUnavailable("QuickBooks token endpoint failed", status)
        if error == "invalid_grant":
            log.warning("quickbooks.refresh_token_rejected")
            raise QuickBooksAuthError(
                "invalid_grant",
                "the refresh token was refused; the QuickBooks connection must be re-authorised",
            )
        if status == 401 or error == "invalid_client":
            raise QuickBooksAuthError("invalid_client", "the client id or client secret was refused")
        raise QuickBooksAuthError(error or f"http_{status}", f"the token endpoint answered HTTP {status}")


def _basic_auth_header(client_id: str, client_secret: str) -> str:
    pair = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


def _reveal(value: str | SecretStr) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value
