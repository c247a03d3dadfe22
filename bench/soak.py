"""Soak: the chaos harness's system (two replicas of every service, own broker and Postgres, the
simulators) under its mixed workload at a steady pace, without faults, for 10 minutes (--minutes).
Prints throughput, errors, and each process's memory (RSS) at the start and at the end, then the
chaos checker's counts (all zero expected).

    .venv/bin/python bench/soak.py [--minutes 10] [--callers 4] [--seed 1]
"""
from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's tests package

from tests.chaos.harness.checker import Checker  # noqa: E402
from tests.chaos.harness.system import Infra, System  # noqa: E402
from tests.chaos.harness.workload import Workload  # noqa: E402
from tests.chaos.run import quiet  # noqa: E402

ERRORS = ("error:", "ClientError", "ClientConnectorError", "ServerDisconnectedError", "TimeoutError", "no_answer")
SERVER_ERROR = re.compile(r":5\d\d(:|$)")  # an answer like "pay:503:..." (not "settle:settled:5")


def is_error(answer: str) -> bool:
    return any(e in answer for e in ERRORS) or SERVER_ERROR.search(answer) is not None


def memory(system: System) -> dict[str, float]:
    """RSS in MiB of every replica and of the broker."""
    pids = {r.name: r.managed.process.pid for r in system.all_replicas() if r.managed}
    if system.infra.broker_process is not None:
        pids["kafka"] = system.infra.broker_process.pid
    out = {}
    for name, pid in pids.items():
        try:
            out[name] = psutil.Process(pid).memory_info().rss / 2**20
        except psutil.NoSuchProcess:
            out[name] = float("nan")
    return out


async def main(minutes: float, callers: int, seed: int) -> int:
    quiet()
    infra = await Infra.start()
    try:
        async with AsyncExitStack() as stack:
            system = System(infra, Path(tempfile.mkdtemp(prefix="soak-")), random.Random(seed))
            await system.start(stack)
            workload = Workload(system, seed, callers=callers)
            stack.push_async_callback(workload.close)
            await workload.setup()
            before = memory(system)
            started = time.monotonic()
            record = await workload.run(minutes * 60)
            elapsed = time.monotonic() - started
            after = memory(system)
            counts, settle = await Checker(system, record).settle()
    finally:
        await infra.stop()
    total = sum(record.operations.values())
    errors = sum(n for answer, n in record.answers.items() if is_error(answer))
    payments = sum(n for answer, n in record.answers.items() if answer.startswith(("pay:201", "pay_several:201")))
    print(f"soak: {elapsed:.0f}s, {callers} callers, {total} operations ({total / elapsed:.1f}/s), "
          f"{payments} payments answered 201 ({payments / elapsed:.2f}/s), {errors} errors")
    kinds = {answer: n for answer, n in sorted(record.answers.items()) if is_error(answer)}
    print(f"errors by kind: {kinds or 'none'}")
    print(f"{'process':<16} {'RSS start MiB':>14} {'RSS end MiB':>12}")
    for name in before:
        print(f"{name:<16} {before[name]:>14.1f} {after.get(name, float('nan')):>12.1f}")
    print(f"checker after {settle:.0f}s: {counts.line()}")
    for detail in counts.details[:20]:
        print(f"  {detail}")
    return 0 if counts.problems() == 0 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--callers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.minutes, args.callers, args.seed)))
