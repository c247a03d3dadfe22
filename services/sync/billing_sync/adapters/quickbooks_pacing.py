"""Stay under QuickBooks' limits instead of meeting its 429s: 500 requests a minute per realm and
10 a second per realm and app [C: QB-LIM]. A 429 costs a 60-second wait; pacing costs milliseconds."""
from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable


class Pacer:
    def __init__(self, *, per_second: int = 8, per_minute: int = 450,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.windows = ((1.0, per_second), (60.0, per_minute))
        self._sent: deque[float] = deque()
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()

    def _wait_needed(self, now: float) -> float:
        while self._sent and self._sent[0] <= now - 60.0:
            self._sent.popleft()
        wait = 0.0
        for span, limit in self.windows:
            recent = [t for t in self._sent if t > now - span]
            if len(recent) >= limit:
                wait = max(wait, recent[len(recent) - limit] + span - now)
        return wait

    async def admit(self) -> None:
        """Wait until one more request fits in every window, then count it."""
        async with self._lock:
            while (wait := self._wait_needed(self._clock())) > 0:
                await self._sleep(wait)
            self._sent.append(self._clock())


class Spacing:
    """At most one call every `interval` seconds: QuickBooks' 40 batch requests a minute per realm and app
    [C: QB-LIM] as an even pace (60/38 s: 38 in any minute, two to spare for the network's jitter, so up
    to 19 payments a second at 30 a batch). A one-minute window would let
    40 batches go at once and then hold the next one for a minute; spaced, a batch waits one interval at most,
    which is what keeps approval -> accounting short when payments come steadily."""

    def __init__(self, interval: float = 60.0 / 38, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval = interval
        self._last = float("-inf")
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def admit(self) -> None:
        async with self._lock:
            while (wait := self._last + self.interval - self._clock()) > 0:
                await self._sleep(wait)
            self._last = self._clock()

    async def ready(self) -> bool:
        """Wait until a call would be admitted at once (without taking its turn); True when it waited. A caller
        that gathers what to send after this sends what came during the wait too, not one interval later."""
        waited = False
        while (wait := self._last + self.interval - self._clock()) > 0:
            await self._sleep(wait)
            waited = True
        return waited
