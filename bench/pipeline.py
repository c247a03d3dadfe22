"""Events per second through one service consumer with inbox and outbox (the sync service taking
`upstream.invoices.v1` and publishing `billing.invoices.v1`), against a bare aiokafka
consume-then-produce loop over the same messages in the same run; then the peak RSS of each service.

    make bench BENCH=pipeline          (or: .venv/bin/python bench/pipeline.py [events] [--sync-only])

The sync figures are printed as soon as they are measured; --sync-only stops there (no payments and
notifications run), which is what a change to sync's consumer needs. With BENCH_PROFILE=<file>, py-spy
samples the sync service while it consumes (raw collapsed stacks into that file).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from billing_shared.events.catalog import BILLING_INVOICES, UPSTREAM_INVOICES
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import TopicNames, ensure_topics

from harness import PeakRss, infrastructure, upstream_invoice


async def produce(bootstrap: str, topic: str, values: list[tuple[bytes, bytes]]) -> float:
    producer = make_producer(bootstrap)
    await producer.start()
    started = time.perf_counter()
    try:
        batch = []
        for key, value in values:
            batch.append(await producer.send(topic, value, key=key))
            if len(batch) >= 5000:
                await asyncio.gather(*batch)
                batch.clear()
        await asyncio.gather(*batch)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def topic_size(bootstrap: str, topic: str) -> int:
    """How many records the topic holds: the sum of its partitions' end offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        [described] = await admin.describe_topics([topic])
        parts = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        return sum((await consumer.end_offsets(parts)).values())
    finally:
        await consumer.stop()
        await admin.close()


async def wait_for_size(bootstrap: str, topic: str, size: int, timeout: float = 300) -> float:
    deadline = time.perf_counter() + timeout
    while (current := await topic_size(bootstrap, topic)) < size:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{topic}: {current} of {size}")
        await asyncio.sleep(0.05)
    return time.perf_counter()


async def bare_loop(bootstrap: str, source: str, sink: str, count: int) -> float:
    """The baseline: consume, then produce each message onward; no parsing, no database."""
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=f"bare-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                isolation_level="read_committed", max_poll_records=2000)
    producer = make_producer(bootstrap)
    await consumer.start()
    await producer.start()
    seen = 0
    started = time.perf_counter()
    try:
        while seen < count:
            polled = await consumer.getmany(timeout_ms=500, max_records=2000)
            acks = [await producer.send(sink, m.value, key=m.key) for msgs in polled.values() for m in msgs]
            await asyncio.gather(*acks)
            if polled:
                await consumer.commit({tp: msgs[-1].offset + 1 for tp, msgs in polled.items()})
            seen += len(acks)
        return time.perf_counter() - started
    finally:
        await consumer.stop()
        await producer.stop()


@contextlib.contextmanager
def profiled(pid: int) -> Iterator[None]:
    """py-spy on `pid` while the block runs, when BENCH_PROFILE names the output file."""
    out = os.environ.get("BENCH_PROFILE")
    if not out:
        yield
        return
    spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--format",
                            "raw", "--rate", "200", "-o", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        spy.wait(30)


async def main(count: int, sync_only: bool = False) -> None:
    async with infrastructure() as infra:
        prefix = f"bench{uuid.uuid4().hex[:6]}."
        names = TopicNames(prefix)
        await ensure_topics(infra.bootstrap, [*names.all(), names("bare.sink")])
        events = [upstream_invoice(n) for n in range(count)]
        values = [(e.organization_id.encode(), e.to_json()) for e in events]

        await produce(infra.bootstrap, names(UPSTREAM_INVOICES), values)
        bare_seconds = await bare_loop(infra.bootstrap, names(UPSTREAM_INVOICES), names("bare.sink"), count)

        sync, _ = await infra.start_service("sync", "billing_sync", prefix)
        # The inputs are already waiting: the clock runs from the moment the healthy service starts
        # consuming until every snapshot is published (organizations add their own directory events).
        sync_cpu = psutil.Process(sync.process.pid)
        with PeakRss(sync.process.pid) as sync_rss, profiled(sync.process.pid):
            cpu_before, started = sum(sync_cpu.cpu_times()[:2]), time.perf_counter()
            finished = await wait_for_size(infra.bootstrap, names(BILLING_INVOICES), count)
            cpu_seconds = sum(sync_cpu.cpu_times()[:2]) - cpu_before
        pipeline_seconds = finished - started
        pipeline_rate, bare_rate = count / pipeline_seconds, count / bare_seconds
        print(f"events                       {count}")
        print(f"sync consumer (inbox+outbox) {pipeline_rate:10,.0f} events/s   ({pipeline_seconds:.2f} s)")
        print(f"bare aiokafka loop           {bare_rate:10,.0f} events/s   ({bare_seconds:.2f} s)")
        print(f"ratio                        {pipeline_rate / bare_rate:10.2f}")
        # Steadier than the rates on a shared machine: what each event cost the sync process in CPU.
        print(f"sync CPU per event           {1e6 * cpu_seconds / count:10.0f} us   "
              f"({cpu_seconds:.2f} s of CPU, {100 * cpu_seconds / pipeline_seconds:.0f}% of a core)")
        print(f"peak RSS MB                  sync {sync_rss.peak_mb:.0f}", flush=True)
        if sync_only:
            return

        payments, _ = await infra.start_service("payments", "billing_payments", prefix)
        notifications, _ = await infra.start_service("notifications", "billing_notifications", prefix)
        with PeakRss(payments.process.pid) as pay_rss, PeakRss(notifications.process.pid) as note_rss:
            started = time.perf_counter()
            done = await wait_for_size(infra.bootstrap, names("billing.notifications.v1"), count)
            notifications_seconds = done - started

        print(f"notifications end to end     {count / notifications_seconds:10,.0f} events/s   "
              f"(payments and notifications consuming the snapshots together)")
        print(f"peak RSS MB                  sync {sync_rss.peak_mb:.0f}, payments {pay_rss.peak_mb:.0f}, "
              f"notifications {note_rss.peak_mb:.0f}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--sync-only"]
    asyncio.run(main(int(args[0]) if args else 50_000, sync_only="--sync-only" in sys.argv[1:]))
