"""The OAuth 2.0 side: refresh tokens that rotate, access tokens that expire.

Tokens are opaque random strings. Times use the monotonic clock so that changing
the TTLs at runtime (`PUT /_sim/config`) only affects tokens issued afterwards.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass

from aiohttp import web

from .config import AccountingSimConfig


@dataclass
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int


class TokenRejected(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class TokenAuthority:
    def __init__(self, config: AccountingSimConfig) -> None:
        self.config = config
        now = time.monotonic()
        # token -> monotonic instant after which it is refused
        self._refresh: dict[str, float] = {config.refresh_token: now + config.refresh_token_ttl_seconds}
        self._access: dict[str, float] = {}
        self.refreshes = 0

    def refresh(self, authorization: str | None, grant_type: str, refresh_token: str) -> IssuedTokens:
        if not self._client_ok(authorization):
            raise TokenRejected(401, "invalid_client")
        if grant_type != "refresh_token":
            raise TokenRejected(400, "unsupported_grant_type")
        now = time.monotonic()
        expires_at = self._refresh.get(refresh_token)
        if expires_at is None or now >= expires_at:
            raise TokenRejected(400, "invalid_grant")
        # Rotate: the presented token keeps a short grace, a new one takes over.
        self._refresh[refresh_token] = min(expires_at, now + self.config.refresh_token_grace_seconds)
        new_refresh = "sim-rt-" + secrets.token_urlsafe(24)
        self._refresh[new_refresh] = now + self.config.refresh_token_ttl_seconds
        access = "sim-at-" + secrets.token_urlsafe(32)
        self._access[access] = now + self.config.access_token_ttl_seconds
        self.refreshes += 1
        self._forget_dead(now)
        return IssuedTokens(
            access_token=access,
            refresh_token=new_refresh,
            expires_in=int(self.config.access_token_ttl_seconds),
            refresh_expires_in=int(self.config.refresh_token_ttl_seconds),
        )

    def check_access(self, token: str) -> str | None:
        """None when the token is good, else the reason (for the 401 detail)."""
        expires_at = self._access.get(token)
        if expires_at is None:
            return "Token invalid: the access token is not known"
        if time.monotonic() >= expires_at:
            return "Token expired: the access token expires hourly; refresh it"
        return None

    def expire_access_tokens(self) -> int:
        expired = len(self._access)
        now = time.monotonic()
        self._access = {token: min(at, now) for token, at in self._access.items()}
        return expired

    def revoke_all(self) -> None:
        """As if the user disconnected the app: every token dies."""
        self._access.clear()
        self._refresh.clear()

    def authorize(self) -> str:
        """As if the user connected the app again: a fresh refresh token."""
        token = "sim-rt-" + secrets.token_urlsafe(24)
        self._refresh[token] = time.monotonic() + self.config.refresh_token_ttl_seconds
        return token

    def _client_ok(self, authorization: str | None) -> bool:
        if not authorization or not authorization.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        client_id, _, client_secret = decoded.partition(":")
        return secrets.compare_digest(client_id, self.config.client_id) and secrets.compare_digest(
            client_secret, self.config.client_secret
        )

    def _forget_dead(self, now: float) -> None:
        # Keep dead tokens for a day so that they answer invalid_grant, not "unknown".
        horizon = now - 86_400
        self._access = {t: at for t, at in self._access.items() if at > horizon}


async def token_endpoint(request: web.Request, authority: TokenAuthority) -> web.Response:
    form = await request.post()
    try:
        issued = authority.refresh(
            request.headers.get("Authorization"),
            str(form.get("grant_type", "")),
            str(form.get("refresh_token", "")),
        )
    except TokenRejected as rejected:
        return web.json_response({"error": rejected.error}, status=rejected.status)
    return web.json_response(
        {
            "access_token": issued.access_token,
            "refresh_token": issued.refresh_token,
            "token_type": "bearer",
            "expires_in": issued.expires_in,
            "x_refresh_token_expires_in": issued.refresh_expires_in,
        },
        headers={"Cache-Control": "no-store"},
    )
