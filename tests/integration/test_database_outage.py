"""While Postgres restarts, a request that needs it is answered 503 `service_unavailable` with Retry-After
(nothing was decided; the caller sends it again), never a 500; once it is back, the same pool serves again.
Found by the chaos harness (a Postgres fast restart answered 500 "unhandled error")."""
from __future__ import annotations

import asyncio

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from billing_shared.settings import ServiceSettings
from billing_shared.web.app import create_app, json_ok
from billing_shared.web.routes import ApiRoutes
from devstack.ports import free_port
from devstack.postgres import PostgresServer

pytestmark = pytest.mark.timeout(120)


async def test_a_request_during_a_database_restart_is_a_503_to_retry_not_a_500(tmp_path):
    server = PostgresServer(tmp_path / "pg", port=free_port(), fast=True)
    await asyncio.to_thread(server.start)
    pool = await asyncpg.create_pool(server.url(), min_size=1, max_size=2)
    routes = ApiRoutes()

    @routes.get("/v1/answer", summary="asks the database", roles=("manager",))
    async def answer(request: web.Request) -> web.Response:
        return json_ok({"answer": await pool.fetchval("SELECT 42")})

    settings = ServiceSettings(api_tokens='[{"token": "m", "role": "manager"}]')
    try:
        async with TestClient(TestServer(create_app("t", settings, routes))) as client:
            asked = await client.get("/v1/answer", headers={"Authorization": "Bearer m"})
            assert asked.status == 200 and await asked.json() == {"answer": 42}
            await asyncio.to_thread(server.stop)
            for _ in range(2):  # a pooled connection that died, then a new one that cannot connect
                asked = await client.get("/v1/answer", headers={"Authorization": "Bearer m"})
                body = await asked.json()
                assert (asked.status, body["error"]["code"]) == (503, "service_unavailable"), body
                assert asked.headers["Retry-After"] == "2" and "asyncpg" not in body["error"]["message"]
            await asyncio.to_thread(server.start)
            asked = await client.get("/v1/answer", headers={"Authorization": "Bearer m"})
            assert asked.status == 200 and await asked.json() == {"answer": 42}
    finally:
        await pool.close()
        await asyncio.to_thread(server.stop)
