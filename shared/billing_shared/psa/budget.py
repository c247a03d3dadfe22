"""Stay inside Autotask's limits instead of being punished for crossing them.

Limits [C: AT-THR]: 10,000 requests per rolling hour per database (shared by
every integration), and 3 simultaneous requests per entity endpoint. Past half
the hourly allowance the API itself adds latency [T]; past all of it the whole
tenant loses API access until usage falls.

RequestBudget enforces, per database (share one instance between the clients
of one tenant):
- a semaphore per entity endpoint (max_concurrent, default 3);
- a rolling-hour count that paces calls (sleeps) more the closer it gets to
  the hourly limit, and refuses once only `reserve` requests remain, so
  people using the PSA and other integrations keep some allowance;
- a backoff that doubles while responses are slow or failing, and halves
  back down when they are fast and fine.
The clock and sleep are injectable so tests run without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable

from .errors import PsaBudgetExhausted

HOUR = 3600.0


class RequestBudget:
    def __init__(self, *, max_concurrent: int = 3, hourly_limit: int = 10_000,
                 reserve: int = 500, slow_down_from: float = 0.5, max_pacing_delay: float = 2.0,
                 slow_response: float = 2.0, min_backoff: float = 0.25, max_backoff: float = 30.0,
                 window: float = HOUR, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        if not 0 <= reserve < hourly_limit:
            raise ValueError("reserve must be between 0 and hourly_limit")
        self.max_concurrent = max_concurrent
        self.hourly_limit = hourly_limit
        self.reserve = reserve
        self.slow_down_from = slow_down_from
        self.max_pacing_delay = max_pacing_delay
        self.slow_response = slow_response
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self.backoff = 0.0

    def __repr__(self) -> str:
        return (f"RequestBudget(used={self.used}/{self.hourly_limit}, reserve={self.reserve}, "
                f"max_concurrent={self.max_concurrent}, backoff={self.backoff:.2f}s)")

    @property
    def used(self) -> int:
        horizon = self._clock() - self.window
        while self._sent and self._sent[0] <= horizon:
            self._sent.popleft()
        return len(self._sent)

    @property
    def cap(self) -> int:
        """Requests this integration may send per window: the limit minus the reserve."""
        return self.hourly_limit - self.reserve

    def pacing_delay(self) -> float:
        """0 below slow_down_from of the limit, rising linearly to
        max_pacing_delay at the cap."""
        start = self.slow_down_from * self.hourly_limit
        used = self.used
        if used <= start:
            return 0.0
        share = (used - start) / max(1.0, self.cap - start)
        return self.max_pacing_delay * min(1.0, share)

    def _refuse_if_spent(self) -> None:
        used = self.used
        if used >= self.cap:
            # The oldest request that must leave the window before one more fits.
            retry_after = self._sent[used - self.cap] + self.window - self._clock()
            raise PsaBudgetExhausted(
                f"Autotask request budget spent: {used} of {self.hourly_limit} in the last "
                f"{self.window / 60:.0f} minutes, {self.reserve} kept in reserve",
                retry_after=max(0.0, retry_after))

    async def admit(self) -> None:
        """Wait as pacing and backoff say, then count one request (or refuse)."""
        self._refuse_if_spent()
        delay = self.pacing_delay() + self.backoff
        if delay > 0:
            await self._sleep(delay)
            self._refuse_if_spent()
        self._sent.append(self._clock())

    @asynccontextmanager
    async def slot(self, entity: str) -> AsyncIterator[None]:
        """Admission, then one of the entity endpoint's concurrent slots. Pacing
        happens before the slot is taken, so a sleeping caller blocks no one."""
        await self.admit()
        semaphore = self._semaphores.get(entity.lower())
        if semaphore is None:
            semaphore = self._semaphores[entity.lower()] = asyncio.Semaphore(self.max_concurrent)
        async with semaphore:
            yield

    def observe(self, latency: float, *, failed: bool = False) -> None:
        """Feed back one response: slow or failed doubles the backoff, fine halves it."""
        if failed or latency >= self.slow_response:
            self.backoff = min(self.max_backoff, max(self.min_backoff, self.backoff * 2))
        else:
            halved = self.backoff / 2
            self.backoff = halved if halved >= self.min_backoff else 0.0

    def absorb_server_count(self, count: int) -> None:
        """Adopt ThresholdInformation's count when it is higher than ours: other
        integrations on the same database spend the same allowance."""
        missing = count - self.used
        if missing > 0:
            self._sent.extend([self._clock()] * missing)  # newest, so the deque stays ordered
