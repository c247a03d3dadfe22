"""Every HTTP call the CLI makes, in one place: the services' APIs with the bearer token, and the simulators'
control surface for the demo. Errors become CliFailures: no answer is Unreachable, an error answer a
ServiceFailure."""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from billing_cli.config import Config
from billing_cli.errors import ServiceFailure, Unreachable

SERVICES = ("sync", "payments", "notifications", "portal")


class Api:
    def __init__(self, config: Config, http: aiohttp.ClientSession) -> None:
        self.config, self.http = config, http

    async def request(self, service: str, method: str, path: str, body: Any = None, *, auth: bool = True,
                      headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
                      ok: tuple[int, ...] = ()) -> tuple[int, Any]:
        """(status, body); a status of 400 or more not in `ok` raises ServiceFailure."""
        url = self.config.urls[service] + path
        sent = {**(headers or {}), **({"Authorization": f"Bearer {self.config.token}"} if auth else {})}
        try:
            async with self.http.request(method, url, json=body, headers=sent, params=params) as answer:
                text = await answer.text()
                try:
                    payload: Any = await answer.json(content_type=None) if text else None
                except ValueError:
                    payload = text
                if answer.status >= 400 and answer.status not in ok:
                    raise ServiceFailure(service, answer.status, payload)
                return answer.status, payload
        except (aiohttp.ClientConnectionError, TimeoutError) as exc:
            raise Unreachable(f"{service} is unreachable at {self.config.urls[service]}: {type(exc).__name__}",
                              {"service": service, "url": self.config.urls[service]}) from exc

    async def call(self, service: str, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        return (await self.request(service, method, path, body, **kwargs))[1]

    # health and metrics (public paths, no token)
    async def health(self, service: str) -> tuple[int, Any]:
        return await self.request(service, "GET", "/health", auth=False, ok=(503,))

    async def metrics(self, service: str) -> str:
        return await self.call(service, "GET", "/metrics", auth=False) or ""

    # sync
    async def start_sync(self, mode: str | None = None) -> dict[str, Any]:
        return await self.call("sync", "POST", "/v1/sync/runs", {"mode": mode} if mode else {})

    async def sync_run(self, run_id: str) -> dict[str, Any]:
        return await self.call("sync", "GET", f"/v1/sync/runs/{run_id}")

    # payments
    async def search_payments(self, filters: dict[str, str], limit: int) -> dict[str, Any]:
        return await self.call("payments", "GET", "/v1/payments", params={**filters, "limit": str(limit)})

    async def payment(self, payment_id: str) -> dict[str, Any]:
        return await self.call("payments", "GET", f"/v1/payments/{payment_id}")

    async def invoices(self, organization_id: str) -> list[dict[str, Any]]:
        page = await self.call("payments", "GET", "/v1/invoices", params={"organization_id": organization_id})
        return page["items"]

    async def pay(self, body: dict[str, Any]) -> tuple[int, Any]:
        return await self.request("payments", "POST", "/v1/payments", body,
                                  headers={"Idempotency-Key": str(uuid.uuid4())}, ok=(402, 409, 422))

    async def start_reconciliation(self, from_date: str | None, to_date: str | None) -> dict[str, Any]:
        body = {k: v for k, v in (("from_date", from_date), ("to_date", to_date)) if v}
        return await self.call("payments", "POST", "/v1/reconciliation/runs", body)

    async def reconciliation_report(self, run_id: str) -> dict[str, Any]:
        return await self.call("payments", "GET", f"/v1/reconciliation/runs/{run_id}")

    # the simulators' control surface (the demo only)
    async def simulator(self, name: str, method: str, path: str, body: Any = None) -> Any:
        return await self.call(name, method, path, body, auth=False)


@asynccontextmanager
async def api(config: Config) -> AsyncIterator[Api]:
    timeout = aiohttp.ClientTimeout(total=config.timeout)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        yield Api(config, http)
