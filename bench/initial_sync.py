"""Initial sync: 2,000 organizations, 20,000 contacts and 100,000 invoices in the PSA simulator, through
the sync service (a full run), its outbox and Kafka, to payments' invoice projection. Prints the wall
time, rows per second, and the PSA calls made against the minimum (rows / 500, one call per page).

The invoices are history already numbered in the PSA and no accounting integration is set, so the
run's cost is reading the PSA and publishing, not creating 100,000 invoices in accounting.

    make bench BENCH=initial_sync      (or: .venv/bin/python bench/initial_sync.py [invoices])

With BENCH_PROFILE=<file>, py-spy samples the sync service during the run (raw collapsed stacks).
"""
from __future__ import annotations

import asyncio
import math
import sys
import time
import uuid

import aiohttp
import asyncpg
import psutil

from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_shared.logging import configure_logging
from billing_shared.psa import AutotaskClient
from billing_sync.adapters.psa import INVOICE_FIELDS
from devstack.ports import free_port
from devstack.processes import start_python, wait_healthy

from harness import TOKENS, infrastructure
from pipeline import profiled

ORGANIZATIONS, CONTACTS_PER_ORGANIZATION = 2_000, 10
USER, SECRET, CODE = "api@msp.example", "sim-secret", "SIMINTEGRATIONCODE000000000000"
ADMIN = "bench-admin"
TOKENS.append({"token": ADMIN, "role": "admin"})


def seed(invoices: int) -> dict[str, list[dict]]:
    companies = [{"id": 10_000 + c, "companyName": f"Organization {c}"} for c in range(ORGANIZATIONS)]
    contacts = [{"id": 1_000_000 + n, "companyID": 10_000 + n // CONTACTS_PER_ORGANIZATION, "firstName": "Contact",
                 "lastName": str(n), "emailAddress": f"c{n}@example.test", "isActive": 1,
                 "billingContact": n % CONTACTS_PER_ORGANIZATION == 0}
                for n in range(ORGANIZATIONS * CONTACTS_PER_ORGANIZATION)]
    rows = [{"id": 5_000_000 + n, "companyID": 10_000 + n % ORGANIZATIONS, "invoiceNumber": str(100_000 + n),
             "invoiceTotal": float(100 + n % 900), "invoiceDateTime": "2026-10-01T00:00:00",
             "dueDate": "2026-11-01T00:00:00", "isVoided": n % 97 == 0} for n in range(invoices)]
    return {"companies": companies, "contacts": contacts, "invoices": rows}


async def post(http: aiohttp.ClientSession, url: str, body: object, token: str | None = None) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.post(url, json=body, headers=headers) as response:
        assert response.status < 300, await response.text()
        return await response.json()


async def bare_read(http: aiohttp.ClientSession, psa_url: str) -> float:
    """The baseline: the same pages read with the same client, nothing stored or published."""
    client = AutotaskClient(http, username=USER, secret=SECRET, integration_code=CODE,
                            base_url=f"{psa_url}/atservicesrest/")
    started = time.perf_counter()

    async def read(entity: str) -> None:
        async for _ in client.query(entity, include_fields=INVOICE_FIELDS if entity == "Invoices" else None):
            pass

    await asyncio.gather(*(read(e) for e in ("Companies", "Contacts", "Invoices")))
    return time.perf_counter() - started


async def main(invoices: int) -> None:
    async with infrastructure() as infra:
        prefix = f"isync{uuid.uuid4().hex[:6]}."
        await ensure_topics(infra.bootstrap, TopicNames(prefix).all())
        psa_port = free_port()
        psa = start_python("psa-sim", "billing_simulators.psa", "--port", str(psa_port),
                           env={"PSA_SIM_PUBLIC_URL": f"http://127.0.0.1:{psa_port}"}, log_dir=infra.home / "logs",
                           health_url=f"http://127.0.0.1:{psa_port}/health")
        infra.processes.append(psa)
        await wait_healthy([psa], timeout=60)
        psa_url = f"http://127.0.0.1:{psa_port}"
        sync_process, sync = await infra.start_service("sync", "billing_sync", prefix)
        await infra.start_service("payments", "billing_payments", prefix)
        payments_db = await asyncpg.connect(infra.database_url)
        timeout = aiohttp.ClientTimeout(total=600)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            data = seed(invoices)
            await post(http, f"{psa_url}/_sim/bulk", data)
            rows = sum(len(v) for v in data.values())
            async with http.put(f"{sync}/v1/integrations/autotask", headers={"Authorization": f"Bearer {ADMIN}"},
                                json={"username": USER, "secret": SECRET, "integration_code": CODE,
                                      "base_url": f"{psa_url}/atservicesrest/", "sync_interval_minutes": 1440}) as r:
                assert r.status == 200, await r.text()
            async with http.delete(f"{psa_url}/_sim/requests"):
                pass
            sync_cpu = psutil.Process(sync_process.process.pid)
            cpu_before, started = sum(sync_cpu.cpu_times()[:2]), time.perf_counter()
            spy = profiled(sync_process.process.pid)
            spy.__enter__()
            run = await post(http, f"{sync}/v1/sync/runs", {}, ADMIN)
            run_done = None
            while True:
                projected = await payments_db.fetchval("SELECT count(*) FROM payments.invoices")
                if run_done is None:
                    async with http.get(f"{sync}/v1/sync/runs/{run['run_id']}",
                                        headers={"Authorization": f"Bearer {ADMIN}"}) as r:
                        state = await r.json()
                    if state["status"] != "running":
                        assert state["status"] == "completed", state
                        run_done = time.perf_counter() - started
                        run_cpu = sum(sync_cpu.cpu_times()[:2]) - cpu_before
                        spy.__exit__(None, None, None)
                if projected >= invoices and run_done is not None:
                    break
                if time.perf_counter() - started > 600:
                    raise TimeoutError(f"{projected} of {invoices} invoices projected after 600 s")
                await asyncio.sleep(0.2)
            wall = time.perf_counter() - started
            async with http.get(f"{psa_url}/_sim/requests") as r:
                calls = await r.json()
            baseline = await bare_read(http, psa_url)
        await payments_db.close()
        minimum = sum(math.ceil(len(v) / 500) for v in data.values())
        print(f"seeded {ORGANIZATIONS:,} organizations, {ORGANIZATIONS * CONTACTS_PER_ORGANIZATION:,} contacts, "
              f"{invoices:,} invoices ({rows:,} rows)")
        print(f"sync run completed in {run_done:.1f} s; all {invoices:,} invoices in payments' projection after "
              f"{wall:.1f} s: {rows / wall:,.0f} rows/s")
        # Steadier than the wall time on a shared machine: the CPU the sync service spent on the run.
        print(f"sync CPU during the run: {run_cpu:.1f} s ({1e6 * run_cpu / rows:.0f} us per row)")
        print(f"PSA calls: {calls['total']} against a minimum of {minimum} (rows / 500 per entity): "
              f"{100 * (calls['total'] / minimum - 1):+.1f}%; max concurrent per endpoint "
              f"{max(calls['max_concurrent'].values())}, over the thread limit {calls['over_thread_limit']}")
        print("calls by entity: " + ", ".join(f"{e} {sum(c.values())}" for e, c in calls["by_entity"].items()))
        print(f"baseline, the same PSA pages read and dropped: {baseline:.1f} s; the whole pipeline takes "
              f"{wall / baseline:.1f}x that")


if __name__ == "__main__":
    configure_logging("bench", "WARNING", "console")
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
