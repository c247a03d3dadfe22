"""One client per service. Every call carries the signed-in person's identity, never the portal's own,
so the services' role and organization rules bind the person."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp

from billing_shared.web.identity import Identity, sign


class ServiceError(Exception):
    """The service refused: the contract's error body, to be shown to the person as a sentence."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or {}


class ServiceUnavailable(Exception):
    """The service did not answer (down, timed out, or failed on its side)."""

    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service


@dataclass
class ServiceClient:
    name: str
    base_url: str
    http: aiohttp.ClientSession
    identity_key: str
    timeout_seconds: float = 15.0
    _timeout: aiohttp.ClientTimeout = field(init=False)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)

    async def call(self, who: Identity, method: str, path: str, *, json: Any = None,
                   params: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> Any:
        sent = {"Authorization": f"Bearer {sign(who, self.identity_key)}", **(headers or {})}
        try:
            async with self.http.request(method, self.base_url + path, json=json, params=params, headers=sent,
                                         timeout=self._timeout) as answer:
                body = await answer.json(content_type=None) if answer.status != 204 else None
                status = answer.status
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise ServiceUnavailable(self.name) from None
        if status >= 500 and not _is_error_body(body):
            raise ServiceUnavailable(self.name)
        if status >= 400:
            error = body["error"] if _is_error_body(body) else {"code": "invalid_request", "message": str(status)}
            raise ServiceError(status, error["code"], error.get("message", ""), error.get("details"))
        return body

    async def fetch_bytes(self, who: Identity, path: str) -> tuple[bytes, str] | None:
        """A binary answer (an invoice's PDF) and its content type; None when the service has none."""
        sent = {"Authorization": f"Bearer {sign(who, self.identity_key)}"}
        try:
            async with self.http.get(self.base_url + path, headers=sent, timeout=self._timeout) as answer:
                if answer.status == 404:
                    return None
                if answer.status >= 400:
                    raise ServiceUnavailable(self.name) if answer.status >= 500 else \
                        ServiceError(answer.status, "forbidden", "refused")
                return await answer.read(), answer.content_type
        except (aiohttp.ClientError, TimeoutError):
            raise ServiceUnavailable(self.name) from None

    async def health(self) -> dict[str, Any]:
        """The service's own /health answer (unauthenticated), or a description of why there is none."""
        try:
            async with self.http.get(self.base_url + "/health", timeout=aiohttp.ClientTimeout(total=3)) as answer:
                answered = await answer.json(content_type=None) or {}
                return {"http_status": answer.status, "checks": answered.get("checks", {})}
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            return {"http_status": None, "checks": {}, "error": type(exc).__name__}


def _is_error_body(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("error"), dict) and "code" in body["error"]


@dataclass
class Services:
    sync: ServiceClient
    payments: ServiceClient
    notifications: ServiceClient

    def all(self) -> list[ServiceClient]:
        return [self.sync, self.payments, self.notifications]
