"""Seeded chaos runs: `python -m tests.chaos.run --runs 50 --seed S` runs seeds S, S+1, ... against one
broker and one Postgres (a fresh database and topic prefix per run), prints one line per run and a
table over all runs. A failing run prints its seed (replay it with --runs 1 --seed N) and log tails."""
from __future__ import annotations

import argparse
import asyncio
import logging
import random
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from tests.chaos.harness.checker import Checker, Counts
from tests.chaos.harness.faults import run_schedule, schedule
from tests.chaos.harness.system import Infra, System
from tests.chaos.harness.workload import Workload

WORKLOAD_SECONDS = 35.0


@dataclass
class RunResult:
    seed: int
    counts: Counts
    seconds: float
    settle_seconds: float
    faults: list[str] = field(default_factory=list)
    operations: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        verdict = "ok  " if self.counts.problems() == 0 else "FAIL"
        return f"{verdict} seed={self.seed} {self.seconds:.0f}s (settle {self.settle_seconds:.0f}s) {self.counts.line()}"


async def run_once(infra: Infra, seed: int, *, duration: float = WORKLOAD_SECONDS, log_root: Path | None = None,
                   verbose: bool = True) -> RunResult:
    faults = schedule(seed, duration)
    if verbose:
        print(f"seed {seed}: fault schedule", flush=True)
        for fault in faults:
            print(f"  {fault.describe()}", flush=True)
    started = time.monotonic()
    log_dir = Path(tempfile.mkdtemp(prefix=f"seed{seed}-", dir=log_root))
    system = System(infra, log_dir, random.Random(f"routing-{seed}"))
    async with AsyncExitStack() as stack:
        await system.start(stack)
        workload = Workload(system, seed)
        stack.push_async_callback(workload.close)
        await workload.setup()
        begin = time.monotonic()
        faulting = asyncio.create_task(run_schedule(system, faults, begin))
        record = await workload.run(duration)
        done = await faulting
        for replica in system.all_replicas():  # a fault that failed must not leave a replica down
            await system.restart(replica)
        checker = Checker(system, record)
        counts, settle_seconds = await checker.settle()
        result = RunResult(seed, counts, time.monotonic() - started, settle_seconds, done,
                           dict(record.operations))
        if verbose:
            print(f"  operations: {dict(sorted(record.answers.items()))}", flush=True)
            print(f"  emails resent with the same Message-ID (outcome unknown): {checker.emails_resent}; "
                  f"settling waited for: {dict(checker.waited_for) or 'nothing'}", flush=True)
        if counts.problems():
            print(f"seed {seed} FAILED; replay: python -m tests.chaos.run --runs 1 --seed {seed}; logs in {log_dir}")
            for detail in counts.details[:40]:
                print(f"  {detail}")
            for replica in system.all_replicas():
                print(f"--- {replica.name} (tail) ---\n{system.log_tail(replica, 1500)}")
        return result


def quiet() -> None:
    """The harness's own clients and simulators meet refused connections by design (faults)."""
    for name in ("aiokafka", "aiohttp.server", "aiohttp.access", "billing_simulators", "chaos"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def table(results: list[RunResult]) -> str:
    names = list(Counts().as_dict())
    width = max(len(n) for n in names)
    lines = [f"{'count':<{width}}  {'total':>6}  {'runs>0':>6}  {'max':>4}"]
    for name in names:
        values = [r.counts.as_dict()[name] for r in results]
        lines.append(f"{name:<{width}}  {sum(values):>6}  {sum(1 for v in values if v):>6}  {max(values, default=0):>4}")
    failed = [r.seed for r in results if r.counts.problems()]
    lines.append(f"{len(results)} runs, {len(results) - len(failed)} clean; failing seeds: {failed or 'none'}")
    return "\n".join(lines)


async def main(runs: int, seed: int, duration: float) -> int:
    logging.basicConfig(level=logging.WARNING)
    quiet()
    infra = await Infra.start()
    results: list[RunResult] = []
    try:
        for n in range(runs):
            try:
                result = await run_once(infra, seed + n, duration=duration)
            except Exception as exc:  # noqa: BLE001 - one broken run is reported; the others go on
                print(f"seed {seed + n}: the run itself failed: {exc!r}", flush=True)
                result = RunResult(seed + n, Counts(details=[repr(exc)]), 0, 0)
                result.counts.state_disagrees = 1
            results.append(result)
            print(result.line(), flush=True)
    finally:
        await infra.stop()
    print(table(results))
    return 0 if all(r.counts.problems() == 0 for r in results) else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=WORKLOAD_SECONDS, help="workload seconds per run")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.seed, args.duration)))
