"""One Autotask REST call, done right: auth headers, the cached zone (fetched
again once on a 401, since a tenant can move zones [T: AT-DJ]), the request
budget, typed errors, and retries with backoff for idempotent calls only.

The API secret lives in a holder whose repr is masked, and it is scrubbed from
any server message before it reaches an exception or a log line.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import structlog

from .budget import RequestBudget
from .errors import (
    PsaAuthError, PsaError, PsaRateLimited, PsaUnavailable, error_for, parse_error_messages,
)
from .zone import Zone, zone_lookup_base

log = structlog.get_logger("billing_shared.psa")

MASK = "****"


class _Secret:
    """Holds the API secret; prints as a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return MASK

    __str__ = __repr__


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for idempotent calls (query, count, get, PATCH) on PsaUnavailable."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        # Exponential with jitter, so parallel callers do not retry in step.
        return min(self.max_delay, self.base_delay * 2 ** attempt) * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise PsaError(f"Autotask answered {self.status} with a body that is not JSON",
                           status=self.status) from None


class AutotaskTransport:
    def __init__(self, session: aiohttp.ClientSession, *, username: str, secret: str,
                 integration_code: str, base_url: str, impersonation_resource_id: int | None,
                 budget: RequestBudget, retry: RetryPolicy, timeout: float) -> None:
        self._session = session
        self.username = username
        self._secret = _Secret(secret)
        self._integration_code = integration_code
        self.base_url = zone_lookup_base(base_url)
        self.impersonation_resource_id = impersonation_resource_id
        self.budget = budget
        self.retry = retry
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._zone: Zone | None = None
        self._zone_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"AutotaskTransport(username={self.username!r}, base_url={self.base_url!r})"

    def redact(self, text: str) -> str:
        secret = self._secret.reveal()
        return text.replace(secret, MASK) if secret else text

    # -- zone --------------------------------------------------------------

    async def zone(self, *, refresh: bool = False) -> Zone:
        if self._zone is not None and not refresh:
            return self._zone
        return await self._refresh_zone(stale=self._zone)

    async def _refresh_zone(self, *, stale: Zone | None) -> Zone:
        async with self._zone_lock:
            # Another caller may have refreshed while we waited: one lookup per change.
            if self._zone is not None and self._zone is not stale:
                return self._zone
            self._zone = await self._lookup_zone()
            log.info("psa_zone", zone=self._zone.name, url=self._zone.url)
            return self._zone

    async def _lookup_zone(self) -> Zone:
        # Sent without auth headers as AT-DJ does; zone calls are not counted
        # against the limits [C: AT-THR], so they skip the budget too.
        # Errors name the URL tried (without the user), so a wrong base URL is plain to see.
        tried = f"{self.base_url}v1.0/zoneInformation"
        url = f"{tried}?user={quote(self.username, safe='')}"
        for attempt in range(self.retry.attempts):
            try:
                async with self._session.get(url, timeout=self._timeout) as response:
                    reply = Reply(response.status, response.content_type, await response.read())
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                # ValueError: a base URL aiohttp cannot use at all (no host, bad port)
                problem: PsaError = PsaUnavailable(
                    f"Autotask zone lookup failed at {tried}: {type(exc).__name__}", entity="zoneInformation")
                if isinstance(exc, ValueError):
                    raise problem from None
            else:
                if reply.status == 200:
                    return Zone.from_json(reply.json())
                messages = parse_error_messages(reply.body, self.redact)
                if reply.status in (500, 401, 403):
                    # An unknown or blank user answers 500 [T: AT-DJ]: not worth retrying.
                    raise PsaAuthError(f"Autotask zone lookup refused user {self.username!r} at {tried}",
                                       status=reply.status, messages=messages,
                                       entity="zoneInformation", method="GET")
                problem = error_for(reply.status, messages, entity="zoneInformation", method="GET", url=tried)
            if attempt + 1 >= self.retry.attempts or not isinstance(problem, PsaUnavailable):
                raise problem
            await asyncio.sleep(self.retry.delay(attempt))
        raise AssertionError("unreachable")

    # -- calls -------------------------------------------------------------

    def _headers(self, *, write: bool) -> dict[str, str]:
        headers = {
            "ApiIntegrationCode": self._integration_code,
            "UserName": self.username,
            "Secret": self._secret.reveal(),
            "Accept": "application/json",
        }
        # AT-DJ impersonates on writes only: reads need no named resource.
        if write and self.impersonation_resource_id is not None:
            headers["ImpersonationResourceId"] = str(self.impersonation_resource_id)
        return headers

    async def call(self, method: str, entity: str, path: str | None = None, *,
                   url: str | None = None, body: Any = None, idempotent: bool,
                   write: bool = False) -> Reply:
        """`path` is relative to the zone's V1.0/ base; `url` is absolute (nextPageUrl).
        Non-idempotent calls (creates) are tried once: their outcome on a
        failure is unknown, and the caller resolves it (e.g. find by marker)."""
        attempts = self.retry.attempts if idempotent else 1
        for attempt in range(attempts):
            try:
                return await self._call_with_zone_retry(method, entity, path, url, body, write)
            except PsaRateLimited:
                raise
            except PsaUnavailable as problem:
                if attempt + 1 >= attempts:
                    raise
                delay = self.retry.delay(attempt)
                log.warning("psa_retry", method=method, entity=entity, attempt=attempt + 1,
                            delay=round(delay, 3), error=str(problem))
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _call_with_zone_retry(self, method: str, entity: str, path: str | None,
                                    url: str | None, body: Any, write: bool) -> Reply:
        zone = await self.zone()
        target = url or zone.api_base + (path or "")
        reply = await self._send(method, entity, target, body, write)
        if reply.status == 401:
            fresh = await self._refresh_zone(stale=zone)
            if target.startswith(zone.url):  # keep an absolute nextPageUrl on the new zone
                target = fresh.url + target[len(zone.url):]
            reply = await self._send(method, entity, target, body, write)
        if reply.status >= 400:
            messages = parse_error_messages(reply.body, self.redact)
            raise error_for(reply.status, messages, entity=entity, method=method)
        return reply

    async def _send(self, method: str, entity: str, target: str, body: Any,
                    write: bool) -> Reply:
        async with self.budget.slot(entity):
            started = time.monotonic()
            try:
                async with self._session.request(
                        method, target, json=body, headers=self._headers(write=write),
                        timeout=self._timeout) as response:
                    reply = Reply(response.status, response.content_type, await response.read())
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                self.budget.observe(time.monotonic() - started, failed=True)
                raise PsaUnavailable(f"Autotask {method} {entity} failed: "
                                     f"{self.redact(type(exc).__name__ + ' ' + str(exc))}",
                                     entity=entity, method=method) from None
        elapsed = time.monotonic() - started
        self.budget.observe(elapsed, failed=reply.status == 429 or reply.status >= 500)
        log.debug("psa_call", method=method, entity=entity, status=reply.status,
                  ms=round(elapsed * 1000, 1))
        return reply
