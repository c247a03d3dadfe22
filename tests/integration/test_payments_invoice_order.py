"""An organization's invoices newest first, paged by key (Invoice History and the client's invoices)."""
from __future__ import annotations

import json

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from billing_payments.bootstrap import build_app
from billing_payments.config import PaymentsSettings
from billing_shared.secrets import new_key

pytestmark = pytest.mark.timeout(60)


async def test_invoices_newest_first_page_through_every_invoice_once(infra, database_url, topic_prefix):
    settings = PaymentsSettings(database_url=database_url, kafka_bootstrap_servers=infra.kafka_bootstrap,
                                kafka_topic_prefix=topic_prefix, secrets_key=new_key(),
                                api_tokens=json.dumps([{"token": "m", "role": "manager"}]))
    async with TestClient(TestServer(build_app(settings))) as client:
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("""
                INSERT INTO payments.invoices (invoice_id, organization_id, invoice_number, source_status, currency,
                                               total, source_total, issued_on, source_version)
                SELECT 'autotask:' || n, CASE WHEN n % 2 = 0 THEN 'autotask:1' ELSE 'autotask:2' END, n::text,
                       'open', 'USD', 10, 10, date '2026-01-01' + (n % 7), 1
                FROM generate_series(1, 40) n""")
        finally:
            await conn.close()
        seen, cursor = [], None
        while True:
            query = "organization_id=autotask:1&order=newest&limit=3" + (f"&cursor={cursor}" if cursor else "")
            answer = await client.get(f"/v1/invoices?{query}", headers={"Authorization": "Bearer m"})
            assert answer.status == 200
            body = await answer.json()
            seen += [(i["issued_on"], i["invoice_id"]) for i in body["items"]]
            cursor = body["next_cursor"]
            if not cursor:
                break
        assert len(seen) == 20 and len(set(seen)) == 20
        assert seen == sorted(seen, reverse=True)  # issued date, then id, newest first
        refused = await client.get("/v1/invoices?order=newest", headers={"Authorization": "Bearer m"})
        assert refused.status == 422
