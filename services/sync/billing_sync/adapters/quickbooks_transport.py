"""One QuickBooks API call: paced under the rate limits, bearer token, one refresh on 401, waits on 429, typed errors.

Nothing is retried after a connection error or a 5xx: a create may have happened
on the other side, and only the caller knows how to look for it (by DocNumber,
PaymentRefNum...). A 429 is safe to retry: QuickBooks refused the call unread.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import structlog

from . import quickbooks_json
from .quickbooks_auth import TokenProvider
from .quickbooks_errors import QuickBooksThrottled, QuickBooksUnavailable, fault_from_body
from .quickbooks_pacing import Pacer

log = structlog.get_logger(__name__)


class QuickBooksTransport:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str,
        realm_id: str,
        token_provider: TokenProvider,
        minor_version: int,
        throttle_wait_seconds: float,
        max_throttle_retries: int,
        request_timeout_seconds: float,
        pacer: Pacer | None = None,
    ) -> None:
        self._session = session
        self._pacer = pacer  # None: no pacing (a caller that owns the realm's traffic passes one)
        self.company_url = f"{base_url.rstrip('/')}/v3/company/{realm_id}"
        self._tokens = token_provider
        self._minor_version = str(minor_version)
        self._throttle_wait = throttle_wait_seconds
        self._max_throttle_retries = max_throttle_retries
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_seconds)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> dict[str, Any]:
        url = f"{self.company_url}/{path}"
        query = {**(params or {}), "minorversion": self._minor_version}
        data = quickbooks_json.dumps(json_body).encode() if json_body is not None else None
        refreshed = False
        throttled = 0
        while True:
            token = await self._tokens.access_token()
            status, raw = await self._send(method, url, query, data, token)
            if status == 401 and not refreshed:
                refreshed = True
                await self._tokens.refresh_rejected(token)
                continue
            if status == 429:
                if throttled >= self._max_throttle_retries:
                    raise QuickBooksThrottled(f"QuickBooks {method} {path} still throttled", status)
                throttled += 1
                log.warning("quickbooks.throttled", path=path, wait_seconds=self._throttle_wait)
                await asyncio.sleep(self._throttle_wait)
                continue
            if status >= 500:
                raise QuickBooksUnavailable(f"QuickBooks {method} {path} failed", status)
            body = _decode(raw)
            if status >= 400 or (isinstance(body, dict) and "Fault" in body):
                raise fault_from_body(status, body)
            return body

    async def request_bytes(self, path: str, accept: str) -> bytes | None:
        """A GET answering raw bytes (an invoice PDF); None on 404. Same token, 401 and 429 rules."""
        url = f"{self.company_url}/{path}"
        query = {"minorversion": self._minor_version}
        refreshed, throttled = False, 0
        while True:
            token = await self._tokens.access_token()
            status, raw = await self._send("GET", url, query, None, token, accept=accept)
            if status == 401 and not refreshed:
                refreshed = True
                await self._tokens.refresh_rejected(token)
                continue
            if status == 429 and throttled < self._max_throttle_retries:
                throttled += 1
                await asyncio.sleep(self._throttle_wait)
                continue
            if status == 404:
                return None
            if status >= 500 or status == 429:
                raise QuickBooksUnavailable(f"QuickBooks GET {path} failed", status)
            if status >= 400:
                raise fault_from_body(status, _decode(raw))
            return raw

    async def _send(
        self, method: str, url: str, query: dict[str, str], data: bytes | None, token: str,
        accept: str = "application/json",
    ) -> tuple[int, bytes]:
        if self._pacer is not None:
            await self._pacer.admit()
        headers = {"Authorization": f"Bearer {token}", "Accept": accept}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method, url, params=query, data=data, headers=headers, timeout=self._timeout
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise QuickBooksUnavailable(
                f"QuickBooks {method} {url} unreachable: {type(exc).__name__}: {exc}"
            ) from exc


def _decode(raw: bytes) -> Any:
    try:
        return quickbooks_json.loads(raw) if raw else {}
    except ValueError:
        return {}
