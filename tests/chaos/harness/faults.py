"""Seeded faults: the whole schedule is computed from the seed before the run starts, so a failing run
replays the same faults at the same moments. Lost gateway replies come from the workload's
`tok_visa_timeout` payments; everything else is here."""
from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass

from tests.chaos.harness.system import SERVICES, System, log


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the workload starts
    kind: str  # kill | broker | postgres | slow_gateway
    service: str = ""
    replica: int = 0
    duration: float = 0.0  # kill: down for; broker: down for; slow_gateway: how long
    latency_ms: int = 0

    def describe(self) -> str:
        if self.kind == "kill":
            return f"{self.at:5.1f}s SIGKILL {self.service}-{self.replica}, restart after {self.duration:.1f}s"
        if self.kind == "broker":
            return f"{self.at:5.1f}s broker stop, start after {self.duration:.1f}s"
        if self.kind == "postgres":
            return f"{self.at:5.1f}s postgres fast restart"
        return f"{self.at:5.1f}s gateway latency {self.latency_ms} ms for {self.duration:.1f}s"


def schedule(seed: int, duration: float) -> list[Fault]:
    """Three kills of random replicas, maybe a broker bounce, maybe a Postgres restart, one slow spell."""
    rng = random.Random(f"faults-{seed}")
    faults = [Fault(round(rng.uniform(2, duration - 6), 1), "kill", rng.choice(list(SERVICES)), rng.randrange(2),
                    round(rng.uniform(1, 6), 1)) for _ in range(3)]
    if rng.random() < 0.5:
        faults.append(Fault(round(rng.uniform(4, duration - 10), 1), "broker", duration=round(rng.uniform(2, 6), 1)))
    if rng.random() < 0.5:
        faults.append(Fault(round(rng.uniform(4, duration - 6), 1), "postgres"))
    faults.append(Fault(round(rng.uniform(1, duration - 8), 1), "slow_gateway", duration=round(rng.uniform(2, 6), 1),
                        latency_ms=rng.choice([500, 1000, 2500])))
    return sorted(faults, key=lambda f: f.at)


async def run_schedule(system: System, faults: list[Fault], started: float) -> list[str]:
    """Apply each fault at its moment (concurrently: a kill's restart may overlap a broker bounce).
    Returns what happened, for the run's report."""
    done: list[str] = []
    infra_lock = asyncio.Lock()  # a broker bounce and a Postgres restart never overlap each other

    async def one(fault: Fault) -> None:
        await asyncio.sleep(max(0.0, started + fault.at - time.monotonic()))
        try:
            await apply(system, fault, infra_lock)
            done.append(fault.describe())
        except Exception as exc:  # noqa: BLE001 - a fault that could not be applied is reported, not fatal
            done.append(f"{fault.describe()} FAILED: {exc!r}")
            log.warning("fault failed: %s: %r", fault.describe(), exc)

    await asyncio.gather(*(one(f) for f in faults))
    return done


async def apply(system: System, fault: Fault, infra_lock: asyncio.Lock) -> None:
    if fault.kind == "kill":
        replica = system.replicas[fault.service][fault.replica]
        system.kill(replica)
        await asyncio.sleep(fault.duration)
        await system.restart(replica)
    elif fault.kind == "broker":
        async with infra_lock:
            await system.infra.stop_broker()
            await asyncio.sleep(fault.duration)
            await system.infra.start_broker()
    elif fault.kind == "postgres":
        async with infra_lock:
            await system.infra.restart_postgres()
    elif fault.kind == "slow_gateway":
        system.gateway.config.latency_ms = fault.latency_ms
        await asyncio.sleep(fault.duration)
        system.gateway.config.latency_ms = 0
