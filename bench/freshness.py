"""Freshness: publish upstream invoice events at a steady 500/s for 30 s and measure, for a sample,
the time from publish to visible in payments' `GET /v1/invoices` (through sync, its outbox, Kafka,
and payments' projection). Prints p50/p99/max.

    make bench BENCH=freshness         (or: .venv/bin/python bench/freshness.py [rate] [seconds])
"""
from __future__ import annotations

import asyncio
import statistics
import sys
import time
import uuid

import aiohttp

from billing_shared.events.catalog import UPSTREAM_INVOICES
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import TopicNames, ensure_topics

from harness import infrastructure, upstream_invoice

SAMPLE_EVERY = 25  # one event in 25 is timed: 20 samples a second at 500/s


async def time_until_visible(http: aiohttp.ClientSession, url: str, organization_id: str, published: float) -> float:
    deadline = published + 30
    while time.perf_counter() < deadline:
        async with http.get(f"{url}/v1/invoices", params={"organization_id": organization_id},
                            headers={"Authorization": "Bearer bench-manager"}) as response:
            if (await response.json())["items"]:
                return time.perf_counter() - published
        await asyncio.sleep(0.01)
    raise TimeoutError(f"{organization_id} not visible after 30 s")


async def main(rate: int, seconds: int) -> None:
    async with infrastructure() as infra:
        prefix = f"fresh{uuid.uuid4().hex[:6]}."
        names = TopicNames(prefix)
        await ensure_topics(infra.bootstrap, names.all())
        await infra.start_service("sync", "billing_sync", prefix)
        _, payments = await infra.start_service("payments", "billing_payments", prefix)
        await infra.start_service("notifications", "billing_notifications", prefix)
        producer = make_producer(infra.bootstrap)
        await producer.start()
        samples: list[asyncio.Task[float]] = []
        per_tick, tick = max(1, rate // 100), 0.01
        async with aiohttp.ClientSession() as http:
            started = time.perf_counter()
            n = 0
            while n < rate * seconds:
                await asyncio.sleep(max(0.0, started + (n // per_tick) * tick - time.perf_counter()))
                for _ in range(per_tick):
                    sampled = n % SAMPLE_EVERY == 0
                    # a sampled invoice gets an organization of its own, so one list call finds it
                    event = upstream_invoice(n, organizations=10**9 if sampled else 500)
                    await producer.send(names(UPSTREAM_INVOICES), event.to_json(), key=event.organization_id.encode())
                    if sampled:
                        samples.append(asyncio.create_task(
                            time_until_visible(http, payments, event.organization_id, time.perf_counter())))
                    n += 1
            sent_seconds = time.perf_counter() - started
            timeline = await asyncio.gather(*samples)
            latencies = sorted(timeline)
        await producer.stop()
        ms = [1000 * x for x in latencies]
        print(f"published {n} events in {sent_seconds:.1f} s ({n / sent_seconds:.0f}/s); {len(ms)} sampled")
        thirds = [timeline[i * len(timeline) // 3:(i + 1) * len(timeline) // 3] for i in range(3)]
        print("p99 by third of the run: " + ", ".join(f"{1000 * sorted(t)[int(len(t) * 0.99) - 1]:.0f} ms" for t in thirds))
        print(f"publish -> visible in payments: p50 {statistics.median(ms):.0f} ms, "
              f"p99 {ms[int(len(ms) * 0.99) - 1]:.0f} ms, max {ms[-1]:.0f} ms")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [500, 30][len(args):])))
