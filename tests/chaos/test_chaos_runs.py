"""Three seeded chaos runs (tests/chaos/harness): two replicas of every service on the harness's own
broker and Postgres, a mixed workload, seeded faults, and a checker whose every count must be zero.
The seeds are chosen so that, together, their schedules kill each service at least once and bounce the
broker and Postgres; the first test asserts that from the schedules, so a change of the schedule's
generator cannot quietly drop a kind of fault. A failing run prints its seed (replay it with
`python -m tests.chaos.run --runs 1 --seed N`) and the tails of the logs."""
from __future__ import annotations

import pytest
import pytest_asyncio

from tests.chaos.harness.faults import schedule
from tests.chaos.harness.system import SERVICES, Infra
from tests.chaos.run import WORKLOAD_SECONDS, quiet, run_once

SEEDS = (1, 2, 3)


def test_the_seeds_kill_every_service_and_bounce_the_broker_and_postgres():
    faults = [f for seed in SEEDS for f in schedule(seed, WORKLOAD_SECONDS)]
    assert {f.service for f in faults if f.kind == "kill"} == set(SERVICES)
    assert any(f.kind == "broker" for f in faults)
    assert any(f.kind == "postgres" for f in faults)
    assert schedule(SEEDS[0], WORKLOAD_SECONDS) == schedule(SEEDS[0], WORKLOAD_SECONDS)  # the seed fixes it


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chaos_infra():
    quiet()
    infra = await Infra.start()
    yield infra
    await infra.stop()


@pytest.mark.timeout(300)
@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("seed", SEEDS)
async def test_a_seeded_run_loses_and_doubles_nothing(chaos_infra, seed, tmp_path):
    result = await run_once(chaos_infra, seed, log_root=tmp_path)
    print(result.line())
    assert result.counts.problems() == 0, "\n".join([result.line(), *result.counts.details[:40]])
