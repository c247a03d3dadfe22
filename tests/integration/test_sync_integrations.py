"""Integration settings (secrets write-only, masked, encrypted), test connection, delete, and invoice
images: the sync service in-process against the simulators, on the real broker and database."""
from __future__ import annotations

import json

import aiohttp
import asyncpg
import pytest

from billing_shared.db import create_pool
from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.kafka.topics import TopicNames
from billing_shared.migrations import migrate
from billing_shared.secrets import SecretBox
from billing_simulators.accounting import AccountingSimConfig
from billing_sync.adapters import integration_store
from billing_sync.adapters.connections import Connections
from billing_sync.domain.integrations import QUICKBOOKS
from tests.e2e.sync_support import (
    CLIENT, MANAGER, PSA_SECRET, seed_customer, seed_invoice, simulators, sync_in_process, sync_settings,
)
from tests.support import eventually, read_topic

pytestmark = pytest.mark.timeout(90)


async def test_secrets_are_write_only_masked_and_encrypted_at_rest(infra, database_url, topic_prefix):
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        body = sims.autotask_body()
        missing = await api.call("PUT", "/v1/integrations/autotask", {**body, "secret": None}, expect=422)
        assert missing["error"]["code"] == "invalid_request"
        unknown = await api.call("PUT", "/v1/integrations/autotask", {**body, "password": "x"}, expect=422)
        assert unknown["error"]["code"] == "invalid_request"
        await api.call("PUT", "/v1/integrations/autotask", body, token=MANAGER, expect=403)
        shown = await api.call("PUT", "/v1/integrations/autotask", body, expect=200)
        assert shown["secret"] == "****cret" and shown["username"] == body["username"]
        # a later PUT without the secret keeps the stored one
        kept = await api.call("PUT", "/v1/integrations/autotask", {**body, "secret": None, "sync_interval_minutes": 30},
                              expect=200)
        assert kept["secret"] == "****cret" and kept["sync_interval_minutes"] == 30
        assert (await api.call("POST", "/v1/integrations/autotask/test", expect=200)) == {"ok": True}

        qbo = await api.call("PUT", "/v1/integrations/quickbooks", sims.quickbooks_body(), expect=200)
        assert (qbo["client_secret"], qbo["refresh_token"]) == ("****cret", "****oken")
        assert (await api.call("POST", "/v1/integrations/quickbooks/test", expect=200)) == {"ok": True}
        rotated = await api.call("GET", "/v1/integrations/quickbooks", expect=200)
        assert rotated["refresh_token"] != "****oken"  # the rotated refresh token was stored

        conn = await asyncpg.connect(database_url)
        try:
            rows = await conn.fetch("SELECT name, settings::text, sealed FROM sync.integrations")
        finally:
            await conn.close()
        for row in rows:
            assert PSA_SECRET not in row["settings"] and "sim-client-secret" not in row["settings"]
            assert b"sim-" not in bytes(row["sealed"])


async def test_wrong_credentials_fail_the_test_and_raise_connection_failed(infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await api.call("PUT", "/v1/integrations/autotask", sims.autotask_body(secret="wrong-secret"), expect=200)
        result = await api.call("POST", "/v1/integrations/autotask/test", expect=200)
        assert result["ok"] is False and "answered 401" in result["reason"]
        await api.call("PUT", "/v1/integrations/quickbooks", sims.quickbooks_body(client_secret="nope"), expect=200)
        qbo = await api.call("POST", "/v1/integrations/quickbooks/test", expect=200)
        assert qbo["ok"] is False and "invalid_client" in qbo["reason"]

        async def both_reported():  # (the scheduled run fails on the PSA credentials too)
            records = await read_topic(infra.kafka_bootstrap, names(BILLING_SYNC), count=2, settle=0.5)
            failed = [json.loads(r.value)["data"] for r in records
                      if json.loads(r.value)["event_type"] == "integration.connection_failed"]
            return failed if {f["integration"] for f in failed} == {"autotask", "quickbooks"} else None
        failed = await eventually(both_reported, timeout=30)
        assert all("wrong-secret" not in f["reason"] and "nope" not in f["reason"] for f in failed)


async def test_delete_stops_the_run_removes_credentials_and_keeps_history(infra, database_url, topic_prefix):
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        await sims.psa_call("POST", "/_sim/bulk", {"contacts": [
            {"id": 2_000_000 + n, "companyID": 678, "firstName": "C", "lastName": str(n)} for n in range(3000)]})
        await api.setup(sims, quickbooks=False)
        first = await api.run_to_end()
        assert first["status"] == "completed"
        await sims.psa_call("POST", "/_sim/config", {"latency_ms": 300})
        started = await api.call("POST", "/v1/sync/runs", {"mode": "full"}, expect=202)

        async def going():
            run = await api.call("GET", f"/v1/sync/runs/{started['run_id']}", expect=200)
            return run["entities"].get("contacts", {}).get("fetched", 0) > 0
        await eventually(going, timeout=30)
        await api.call("DELETE", "/v1/integrations/autotask", expect=204)
        stopped = await api.call("GET", f"/v1/sync/runs/{started['run_id']}", expect=200)
        assert stopped["status"] == "cancelled"
        await api.call("GET", "/v1/integrations/autotask", expect=404)
        refused = await api.call("POST", "/v1/sync/runs", {}, expect=409)
        assert refused["error"]["code"] == "integration_not_configured"
        runs = await api.call("GET", "/v1/sync/runs", expect=200)
        assert [r["status"] for r in runs["items"]] == ["cancelled", "completed"]
        organizations = await api.call("GET", "/v1/organizations", token=MANAGER, expect=200)
        assert [o["organization_id"] for o in organizations["items"]] == ["autotask:678"]
        conn = await asyncpg.connect(database_url)
        try:
            assert await conn.fetchval("SELECT sealed FROM sync.integrations WHERE name = 'autotask'") is None
        finally:
            await conn.close()


async def test_invoice_images_come_from_the_sources_in_order(infra, database_url, topic_prefix):
    async with simulators() as sims, sync_in_process(sync_settings(infra, database_url, topic_prefix)) as api:
        await seed_customer(sims)
        await seed_invoice(sims, 501, "500.00")
        await api.setup(sims)
        assert (await api.run_to_end())["status"] == "completed"
        async with api.http.get(f"{api.url}/v1/invoices/autotask:501/image",
                                headers={"Authorization": f"Bearer {CLIENT}"}) as response:
            assert response.status == 200 and response.headers["X-Image-Source"] == "psa"
            assert (await response.read()).startswith(b"%PDF")
        # accounting first: its PDF is shown; when accounting cannot answer, the PSA's is
        await api.call("PUT", "/v1/settings/invoice-image", {"sources": ["accounting", "psa"]}, expect=200)
        async with api.http.get(f"{api.url}/v1/invoices/autotask:501/image",
                                headers={"Authorization": f"Bearer {MANAGER}"}) as response:
            assert response.status == 200 and response.headers["X-Image-Source"] == "accounting"
            assert (await response.read()).startswith(b"%PDF")
        await sims.acct_call("POST", "/_sim/faults", {"path_contains": "pdf", "status": 500, "code": "500", "count": 1})
        async with api.http.get(f"{api.url}/v1/invoices/autotask:501/image",
                                headers={"Authorization": f"Bearer {MANAGER}"}) as response:
            assert response.status == 200 and response.headers["X-Image-Source"] == "psa"
        await sims.psa_call("POST", "/_sim/faults", {"entity": "Invoices", "method": "GET", "status": 404, "count": 1})
        await sims.acct_call("POST", "/_sim/faults", {"path_contains": "pdf", "status": 500, "code": "500", "count": 1})
        missing = await api.call("GET", "/v1/invoices/autotask:501/image", token=MANAGER, expect=404)
        assert missing["error"]["code"] == "not_found"
        await api.call("GET", "/v1/invoices/autotask:404/image", token=MANAGER, expect=404)
        await api.call("PUT", "/v1/settings/invoice-image", {"sources": ["psa", "psa"]}, expect=422)


async def test_a_refresh_token_rotated_by_another_replica_is_taken_from_the_database(infra, database_url,
                                                                                      topic_prefix):
    # No grace for a rotated refresh token: the previous one dies the moment a new one is handed out.
    async with simulators(accounting=AccountingSimConfig(refresh_token_grace_seconds=0)) as sims:
        settings = sync_settings(infra, database_url, topic_prefix)
        box = SecretBox(settings.secrets_key.get_secret_value())
        pools = [await create_pool(database_url, "sync"), await create_pool(database_url, "sync")]
        try:
            await migrate(pools[0], "sync", "billing_sync")
            body = sims.quickbooks_body()
            secrets = {k: body.pop(k) for k in ("client_secret", "refresh_token")}
            async with pools[0].acquire() as conn:
                await integration_store.save(conn, box, QUICKBOOKS, body, secrets)
            async with aiohttp.ClientSession() as http:
                # two replicas, each with its own clients, sharing one database
                first, second = (Connections(pool, box, settings, http) for pool in pools)
                a, b = await first.quickbooks(), await second.quickbooks()
                assert a is not None and b is not None and a.revision == b.revision

                async def stored_token() -> str:
                    stored = await integration_store.load(pools[0], box, QUICKBOOKS)
                    assert stored is not None
                    return stored.secrets["refresh_token"]

                await a.client.check()  # the first replica rotates the token and stores the new one
                rotated_by_a = await stored_token()
                assert rotated_by_a != "sim-refresh-token"
                await b.client.check()  # its token died: it takes the stored one and rotates again
                rotated_by_b = await stored_token()
                assert rotated_by_b not in ("sim-refresh-token", rotated_by_a)
                await sims.acct_call("POST", "/_sim/oauth/expire-access-tokens")
                await a.client.check()  # an hour later: the first replica's token died meanwhile
                assert await stored_token() not in (rotated_by_a, rotated_by_b)
                await b.client.check()
                calls = await sims.acct_call("GET", "/_sim/requests")
                assert calls["token_refreshes"] == 4
                # the rotations kept the settings' revision: no client was rebuilt
                assert (await first.quickbooks()).client is a.client and (await second.quickbooks()).client is b.client
        finally:
            for pool in pools:
                await pool.close()
