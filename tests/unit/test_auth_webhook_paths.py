"""Only the inbound gateway webhook skips the bearer token: the outbound webhooks' admin API, under the same
/v1/webhooks/ prefix, is authenticated like every route (it answered 500, and a route without roles under
that prefix would have been open to anyone)."""
from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from billing_shared.settings import ServiceSettings
from billing_shared.web.app import create_app, json_ok
from billing_shared.web.routes import ApiRoutes

pytestmark = pytest.mark.timeout(10)


async def test_only_the_inbound_gateway_webhook_is_public_under_v1_webhooks():
    routes = ApiRoutes()

    @routes.get("/v1/webhooks/subscriptions", summary="admin only", roles=("admin",))
    async def subscriptions(request: web.Request) -> web.Response:
        return json_ok({"items": []})

    @routes.get("/v1/webhooks/unguarded", summary="no roles named")
    async def unguarded(request: web.Request) -> web.Response:
        return json_ok({"open": True})

    @routes.post("/v1/webhooks/gateway", summary="signed by the sender")
    async def gateway(request: web.Request) -> web.Response:
        return json_ok({"received": True})

    settings = ServiceSettings(api_tokens='[{"token": "a", "role": "admin"}, {"token": "m", "role": "manager"}]')
    async with TestClient(TestServer(create_app("t", settings, routes))) as client:
        for path in ("/v1/webhooks/subscriptions", "/v1/webhooks/unguarded"):
            response = await client.get(path)
            assert response.status == 401 and (await response.json())["error"]["code"] == "unauthorized"
        response = await client.get("/v1/webhooks/subscriptions", headers={"Authorization": "Bearer m"})
        assert response.status == 403
        response = await client.get("/v1/webhooks/subscriptions", headers={"Authorization": "Bearer a"})
        assert response.status == 200
        response = await client.post("/v1/webhooks/gateway")  # its own signature, checked by its handler
        assert response.status == 200 and await response.json() == {"received": True}
