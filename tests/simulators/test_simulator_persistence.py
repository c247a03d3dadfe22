"""The simulators' world survives a restart when they are given a data folder (`make up` gives them
.cache/simulators/), and nothing is written without one (tests keep them in memory)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qsl

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from billing_simulators.accounting import AccountingSimConfig
from billing_simulators.accounting import create_app as accounting_app
from billing_simulators.gateway.app import create_app as gateway_app
from billing_simulators.psa.app import create_app as psa_app

pytestmark = pytest.mark.timeout(20)

BASIC = "Basic " + base64.b64encode(b"sim-client:sim-client-secret").decode()


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[tuple[TestServer, aiohttp.ClientSession]]:
    """The app on a free port until the block ends; closing it is the simulator's shutdown."""
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http:
            yield server, http
    finally:
        await server.close()


async def _token(server: TestServer, http: aiohttp.ClientSession, refresh_token: str) -> dict:
    async with http.post(server.make_url("/oauth2/v1/tokens/bearer"), headers={"Authorization": BASIC},
                         data={"grant_type": "refresh_token", "refresh_token": refresh_token}) as r:
        return {"status": r.status, **(await r.json())}


async def _api(server: TestServer, http: aiohttp.ClientSession, token: str, method: str, path: str,
               body: dict | None = None) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with http.request(method, server.make_url(f"/v3/company/sim-realm/{path}"), headers=headers,
                            data=json.dumps(body) if body is not None else None) as r:
        return r.status, await r.json()


def _invoice(customer_id: str, amount: str) -> dict:
    return {"CustomerRef": {"value": customer_id},
            "Line": [{"DetailType": "SalesItemLineDetail", "Amount": amount, "SalesItemLineDetail": {}}]}


async def test_the_accounting_books_and_the_rotated_refresh_token_survive_a_restart(tmp_path: Path):
    async with serving(accounting_app(AccountingSimConfig(), data_dir=tmp_path)) as (server, http):
        issued = await _token(server, http, "sim-refresh-token")
        access = issued["access_token"]
        _, customer = await _api(server, http, access, "POST", "customer", {"DisplayName": "Acme Dental"})
        _, first = await _api(server, http, access, "POST", "invoice", _invoice(customer["Customer"]["Id"], "500.00"))
        rotated = issued["refresh_token"]  # what a caller stores after the rotation

    assert (tmp_path / "accounting.json").exists()
    async with serving(accounting_app(AccountingSimConfig(), data_dir=tmp_path)) as (server, http):
        again = await _token(server, http, rotated)
        assert again["status"] == 200, again  # the stored token still works: no reconnect after make up
        access = again["access_token"]
        status, kept = await _api(server, http, access, "GET", f"invoice/{first['Invoice']['Id']}")
        assert status == 200
        assert kept["Invoice"]["DocNumber"] == first["Invoice"]["DocNumber"] == "1001"
        assert kept["Invoice"]["TotalAmt"] == 500.0
        assert kept["Invoice"]["MetaData"]["CreateTime"] == first["Invoice"]["MetaData"]["CreateTime"]
        _, second = await _api(server, http, access, "POST", "invoice", _invoice(customer["Customer"]["Id"], "300.00"))
        # ids and numbers go on where they were: never handed out twice
        assert (second["Invoice"]["Id"], second["Invoice"]["DocNumber"]) == ("2", "1002")


async def test_the_psa_tenant_survives_a_restart(tmp_path: Path):
    async with serving(psa_app(data_dir=tmp_path)) as (server, http):
        for path, body in (("/_sim/companies", {"id": 678, "companyName": "Acme Dental"}),
                           ("/_sim/invoices", {"id": 501, "companyID": 678, "invoiceTotal": 500.0,
                                               "invoiceDateTime": "2026-11-01T00:00:00"})):
            async with http.post(server.make_url(path), json=body) as r:
                assert r.status < 300, await r.text()

    async with serving(psa_app(data_dir=tmp_path)) as (server, http):
        async with http.get(server.make_url("/_sim/invoices/501")) as r:
            assert r.status == 200
            invoice = await r.json()
        assert (invoice["companyID"], invoice["invoiceTotal"]) == (678, 500.0)
        async with http.post(server.make_url("/_sim/invoices"), json={
                "companyID": 678, "invoiceTotal": 10.0, "invoiceDateTime": "2026-11-02T00:00:00"}) as r:
            assert (await r.json())["id"] > 501  # the next id follows the kept ones


async def test_gateway_transactions_survive_a_restart(tmp_path: Path):
    async with serving(gateway_app(data_dir=tmp_path)) as (server, http):
        async with http.post(server.make_url("/api/transact.php"), data={
                "security_key": "sim-private-key", "type": "sale", "payment_token": "tok_visa_approved",
                "amount": "500.00", "orderid": "pay-1"}) as r:
            sale = dict(parse_qsl(await r.text()))
        assert sale["response"] == "1"

    async with serving(gateway_app(data_dir=tmp_path)) as (server, http):
        async with http.get(server.make_url("/_sim/transactions")) as r:
            rows = {row["transaction_id"]: row for row in await r.json()}
        assert rows[sale["transactionid"]]["amount"] == "500.00"
        assert rows[sale["transactionid"]]["order_id"] == "pay-1"
        async with http.post(server.make_url("/api/transact.php"), data={
                "security_key": "sim-private-key", "type": "refund", "transactionid": sale["transactionid"],
                "amount": "100.00"}) as r:
            assert dict(parse_qsl(await r.text()))["response"] == "1"  # the sale is known: refundable


async def test_without_a_data_folder_nothing_is_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    async with serving(accounting_app(AccountingSimConfig())) as (server, http):
        issued = await _token(server, http, "sim-refresh-token")
        _, customer = await _api(server, http, issued["access_token"], "POST", "customer", {"DisplayName": "A"})
    async with serving(accounting_app(AccountingSimConfig())) as (server, http):
        issued = await _token(server, http, "sim-refresh-token")
        status, _ = await _api(server, http, issued["access_token"], "GET", f"customer/{customer['Customer']['Id']}")
        assert status == 400  # a fresh world: Object Not Found
    assert list(tmp_path.iterdir()) == []


async def test_a_slow_write_spaces_the_next_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The whole world was rewritten every half second under steady changes, however long a write took;
    now the next write waits at least SAVE_SPACING times as long as the last one took."""
    import asyncio
    import time

    from billing_simulators import persistence

    monkeypatch.setattr(persistence, "SAVE_DELAY_SECONDS", 0.05)
    writes: list[float] = []

    def dump() -> dict:
        time.sleep(0.05)  # a large world: each write takes 50 ms, so the next waits a second or more
        writes.append(time.monotonic())
        return {"n": len(writes)}

    persister = persistence._Persister(persistence.Snapshots.in_folder(tmp_path, "sim"), dump)
    task = asyncio.create_task(persister.run())
    try:
        for _ in range(8):  # steady changes for 0.8 s
            persister.changed.set()
            await asyncio.sleep(0.1)
        assert len(writes) == 1, writes
        await asyncio.sleep(0.6)
        assert len(writes) == 2 and writes[1] - writes[0] >= 1.0
    finally:
        task.cancel()
    assert persistence.Snapshots.in_folder(tmp_path, "sim").read() == {"n": 2}
