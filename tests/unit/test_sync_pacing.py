"""QuickBooks pacing on a fake clock: never more than the per-second and per-minute allowances."""
from __future__ import annotations

import pytest

from billing_sync.adapters.quickbooks_pacing import Pacer, Spacing

pytestmark = pytest.mark.timeout(10)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_calls_past_the_per_second_allowance_wait_for_the_window_to_move():
    clock = FakeClock()
    pacer = Pacer(per_second=3, per_minute=100, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(7):
        await pacer.admit()
        sent.append(clock.now)
    assert sent == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0]
    assert all(sum(1 for t in sent if start <= t < start + 1) <= 3 for start in sent)


async def test_the_per_minute_allowance_holds_over_a_minute():
    clock = FakeClock()
    pacer = Pacer(per_second=100, per_minute=5, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(11):
        await pacer.admit()
        sent.append(clock.now)
    assert sent[:5] == [0.0] * 5 and sent[5] == 60.0 and sent[10] == 120.0


async def test_batches_are_spaced_within_40_a_minute_and_never_wait_a_minute():
    clock = FakeClock()
    pace = Spacing(clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(80):
        await pace.admit()
        sent.append(clock.now)
    assert max(sum(1 for t in sent if start <= t < start + 60) for start in sent) <= 39
    assert sent[0] == 0 and max(clock.slept) <= 60 / 38 + 1e-9  # the first at once, then one interval at most


async def test_ready_waits_for_the_next_batch_turn_without_taking_it():
    clock = FakeClock()
    pace = Spacing(interval=1.5, clock=clock, sleep=clock.sleep)
    assert await pace.ready() is False  # nothing sent yet: at once
    await pace.admit()
    clock.now += 0.5
    assert await pace.ready() is True and clock.now == 1.5
    await pace.admit()  # its turn was not taken by `ready`: admitted at once
    assert clock.now == 1.5
