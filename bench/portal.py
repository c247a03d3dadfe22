"""Portal pages per second and time to first byte, signed in, over big data:

- Invoice History of an organization with 10,000 invoices (`/organizations/{id}/invoices`);
- Payment Search over 100,000 payments (`/payments`, unfiltered and by organization and status).

    make bench BENCH=portal          (or: .venv/bin/python bench/portal.py)

The portal, sync and payments run as processes on a durable Postgres; the rows are written straight
into payments' tables (the benchmark measures reading them through the portal, not taking them).
Each page is requested by 8 concurrent signed-in sessions; goal: p99 time to first byte < 150 ms.
"""
from __future__ import annotations

import asyncio
import json
import re
import secrets
import statistics
import sys
import time

import aiohttp
import asyncpg

from devstack.ports import free_port
from devstack.processes import start_python, wait_healthy

from harness import CpuMeter, infrastructure, postgres_pid

INVOICES, PAYMENTS, ORGANIZATION = 10_000, 100_000, "autotask:1"
CONCURRENCY, REQUESTS = 8, 800
PASSWORD = "bench-password"


async def seed(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("""
            INSERT INTO payments.invoices (invoice_id, organization_id, invoice_number, source_status, currency,
                                           total, source_total, issued_on, due_on, source_version)
            SELECT 'autotask:' || n, CASE WHEN n <= $1 THEN 'autotask:1' ELSE 'autotask:' || (2 + n % 200) END,
                   (100000 + n)::text, 'open', 'USD', 100 + n % 900, 100 + n % 900,
                   date '2026-01-01' + (n % 330), date '2026-02-01' + (n % 330), 1
            FROM generate_series(1, $1 * 2) n""", INVOICES)
        await conn.execute("""
            INSERT INTO payments.payments (payment_id, invoice_id, organization_id, contact_id, environment,
                                           method_type, method_brand, method_last4, currency, original_amount,
                                           status, transaction_id, sale_amount, unapplied_amount, refund_amount,
                                           created_at, updated_at)
            SELECT md5('p' || n)::uuid, 'autotask:' || (n % ($2 * 2) + 1),
                   CASE WHEN n % ($2 * 2) + 1 <= $2 THEN 'autotask:1' ELSE 'autotask:' || (2 + (n % ($2 * 2) + 1) % 200) END,
                   'autotask:9', 'autotask', 'credit_card', 'visa', '1111', 'USD', 10, 
                   CASE WHEN n % 10 = 0 THEN 'failed' ELSE 'succeeded' END, (7000000 + n)::text,
                   CASE WHEN n % 10 = 0 THEN 0 ELSE 10 END, 0, 0,
                   now() - make_interval(secs => n), now()
            FROM generate_series(1, $1) n""", PAYMENTS, INVOICES)
        await conn.execute("""
            INSERT INTO payments.payment_transactions (payment_id, seq, type, amount, at, transaction_id)
            SELECT payment_id, 1, 'sale', 10, created_at, transaction_id FROM payments.payments
            WHERE status = 'succeeded'""")
        await conn.execute("""
            INSERT INTO payments.application_entries (payment_id, invoice_id, amount, reason, at)
            SELECT payment_id, invoice_id, 10, 'paid', created_at FROM payments.payments WHERE status = 'succeeded'""")
        # Invoice History asks sync for the organization's contacts: sync must know the organization (a 404 else)
        await conn.execute("""
            INSERT INTO sync.organizations (organization_id, source, external_id, name)
            VALUES ($1, 'autotask', split_part($1, ':', 2), 'Benchmark Organization') ON CONFLICT DO NOTHING""",
            ORGANIZATION)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


async def sign_in(portal: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(f"{portal}/login") as form:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await form.text()).group(1)  # type: ignore[union-attr]
    async with http.post(f"{portal}/login", data={"email": "manager@msp.example", "password": PASSWORD,
                                                  "csrf_token": token}, allow_redirects=False) as answer:
        assert answer.status == 303, answer.status
    return http


async def measure(sessions: list[aiohttp.ClientSession], url: str, check: str) -> dict[str, float]:
    ttfb: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(REQUESTS):
        queue.put_nowait(i)

    async def worker(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            queue.get_nowait()
            started = time.perf_counter()
            async with http.get(url) as answer:
                ttfb.append(time.perf_counter() - started)  # aiohttp returns once the headers are in
                body = await answer.text()
                assert answer.status == 200 and check in body, (answer.status, body[:300])

    started = time.perf_counter()
    await asyncio.gather(*(worker(s) for s in sessions))
    wall = time.perf_counter() - started
    ttfb.sort()
    return {"pages_per_s": REQUESTS / wall, "p50_ms": 1000 * statistics.median(ttfb),
            "p99_ms": 1000 * ttfb[int(len(ttfb) * 0.99) - 1], "wall": wall}


async def main() -> int:
    async with infrastructure() as infra:
        identity = secrets.token_urlsafe(48)
        env = {"IDENTITY_KEY": identity, "DB_POOL_SIZE": "20",
               "PORTAL_USERS": json.dumps([{"email": "manager@msp.example", "password": PASSWORD, "role": "manager"}])}
        urls: dict[str, str] = {}
        for name, module in (("sync", "billing_sync"), ("payments", "billing_payments"), ("portal", "billing_portal")):
            port = free_port()
            urls[name] = f"http://127.0.0.1:{port}"
            extra = {"SYNC_URL": urls.get("sync", ""), "PAYMENTS_URL": urls.get("payments", ""),
                     "NOTIFICATIONS_URL": "http://127.0.0.1:9"} if name == "portal" else {}
            managed = start_python(name, module, env={**infra.service_env("bench."), **env, **extra,
                                                      "HTTP_PORT": str(port)},
                                   log_dir=infra.home / "logs", health_url=f"{urls[name]}/health")
            infra.processes.append(managed)
            await wait_healthy([managed], timeout=90)
        portal = infra.processes[-1]
        t = time.perf_counter()
        await seed(infra.database_url)
        print(f"seeded {INVOICES * 2:,} invoices ({INVOICES:,} of {ORGANIZATION}) and {PAYMENTS:,} payments "
              f"in {time.perf_counter() - t:.1f} s")
        base = urls["portal"]
        sessions = [await sign_in(base) for _ in range(CONCURRENCY)]
        pids = {"portal": portal.process.pid, "payments": infra.processes[1].process.pid}
        pg = postgres_pid(infra.database_url)
        if pg:
            pids["postgres"] = pg
        try:
            pages = [("Invoice History, 10,000 invoices", f"{base}/organizations/{ORGANIZATION}/invoices",
                      "Invoice History"),
                     ("Payment Search, all 100,000", f"{base}/payments", "View Payment Details"),
                     ("Payment Search, organization + status", f"{base}/payments?organization_id={ORGANIZATION}"
                      "&status=succeeded", "View Payment Details")]
            worst = 0.0
            for label, url, check in pages:
                await measure(sessions[:2], url, check)  # warm up
                meter = CpuMeter(**pids)
                meter.start()
                figures = await measure(sessions, url, check)
                worst = max(worst, figures["p99_ms"])
                print(f"{label:<40} {figures['pages_per_s']:7.1f} pages/s  TTFB p50 {figures['p50_ms']:6.1f} ms  "
                      f"p99 {figures['p99_ms']:6.1f} ms  ({CONCURRENCY} sessions, {REQUESTS} pages)  "
                      f"{meter.report(figures['wall'])}")
            print(f"goal: p99 TTFB < 150 ms: {'met' if worst < 150 else 'not met'} (worst p99 {worst:.1f} ms)")
        finally:
            for s in sessions:
                await s.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
