"""`POST /v1/webhooks/gateway`: authenticated by the gateway's signature, not a bearer token."""
from __future__ import annotations

from aiohttp import web

from billing_shared.web.app import json_ok
from billing_shared.web.errors import read_body
from billing_shared.web.routes import ApiRoutes

from billing_payments.entrypoints.web_support import deps
from billing_payments.service import webhooks

routes = ApiRoutes()


@routes.post("/v1/webhooks/gateway", summary="Gateway events (Webhook-Signature: t=<nonce>,s=<hex HMAC-SHA256>)")
async def gateway_webhook(request: web.Request) -> web.Response:
    raw = await read_body(request)  # verified as bytes, before any parsing
    outcome = await webhooks.receive(deps(request), raw, request.headers.get("Webhook-Signature"))
    return json_ok({"received": True, "outcome": outcome})
