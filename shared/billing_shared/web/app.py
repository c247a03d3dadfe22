"""The base aiohttp application of every service: middlewares, /health, /metrics, /openapi.json, /asyncapi.json."""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from billing_shared.events.asyncapi import EventSurface, build_asyncapi
from billing_shared.metrics import HTTP_REQUESTS
from billing_shared.settings import ServiceSettings

from .auth import IDENTITY_KEY, TOKENS, auth_middleware
from .identity import check_key
from .errors import error_middleware
from .openapi import build_openapi
from .routes import ApiRoutes

HealthCheck = Callable[[], Awaitable[None]]
HEALTH_CHECKS = web.AppKey("health_checks", dict)


@web.middleware
async def metrics_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        route = request.match_info.route.resource.canonical if request.match_info.route.resource else "unmatched"
        HTTP_REQUESTS.labels(request.method, route, str(status)).observe(time.perf_counter() - started)


async def health(request: web.Request) -> web.Response:
    """200 when every dependency answers within two seconds, 503 naming the ones that did not."""
    checks: dict[str, HealthCheck] = request.app[HEALTH_CHECKS]
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check(), 2.0)
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            results[name] = f"down: {type(exc).__name__}"
    healthy = all(v == "ok" for v in results.values())
    return web.json_response({"status": "ok" if healthy else "unavailable", "checks": results},
                             status=200 if healthy else 503)


async def metrics(_: web.Request) -> web.Response:
    response = web.Response(body=generate_latest())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


def add_asyncapi(app: web.Application, events: EventSurface) -> None:
    """`GET /asyncapi.json`: the AsyncAPI 3.0 document of the topics the service sends and receives."""
    document = build_asyncapi(events)

    async def asyncapi(_: web.Request) -> web.Response:
        return web.json_response(document)

    app.router.add_get("/asyncapi.json", asyncapi)


def create_app(title: str, settings: ServiceSettings, routes: ApiRoutes, *, client_max_size: int = 1024**2,
               middlewares: tuple[Any, ...] = (), events: EventSurface | None = None) -> web.Application:
    """`middlewares` run inside authentication, so they see the caller; errors they raise are rendered.
    `events`: what the service sends and receives on Kafka, served as /asyncapi.json."""
    app = web.Application(middlewares=[metrics_middleware, error_middleware, auth_middleware, *middlewares],
                          client_max_size=client_max_size)
    app[TOKENS] = list(settings.api_tokens)
    app[IDENTITY_KEY] = check_key(settings.identity_key.get_secret_value()) if settings.identity_key else ""
    app[HEALTH_CHECKS] = {}
    spec = build_openapi(title, "1", routes.docs)

    async def openapi(_: web.Request) -> web.Response:
        return web.json_response(spec)

    app.router.add_get("/health", health)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    if events is not None:
        add_asyncapi(app, events)
    app.router.add_routes(routes.table)
    return app


def dumps(value: Any) -> str:
    """JSON text for a response: orjson (several times faster than the json module on the hot paths); what
    orjson refuses and the json module takes (an integer beyond 64 bits) goes through the json module. Datetimes
    and dataclasses are refused as the json module refuses them: a raw one must fail, not go out in orjson's format."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME
                            | orjson.OPT_PASSTHROUGH_DATACLASS).decode()
    except TypeError:
        return json.dumps(value)


def json_ok(payload: BaseModel | dict[str, Any] | list[Any], status: int = 200) -> web.Response:
    """A JSON response; pydantic models in JSON mode (money as strings)."""
    if isinstance(payload, BaseModel):
        return web.Response(text=payload.model_dump_json(), status=status, content_type="application/json")
    return web.json_response(payload, status=status, dumps=dumps)
