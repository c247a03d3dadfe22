"""What the simulator counts about its callers, and the faults tests inject.

RequestLog: every API call per entity and method, a rolling-hour window for
the hourly limit and ThresholdInformation, and in-flight calls per entity
endpoint for the thread limit. Faults: "fail the next N matching calls".
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

HOUR = 3600.0


class RequestLog:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.by_entity: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.window: deque[float] = deque()
        self.in_flight: Counter[str] = Counter()
        self.max_concurrent: Counter[str] = Counter()
        self.over_thread_limit = 0
        self.zone_lookups = 0
        self.rejected_auth = 0

    def record(self, entity: str, label: str) -> int:
        """Count one call; answer the rolling-hour count including it."""
        self.by_entity[entity][label] += 1
        self.window.append(self.clock())
        return self.hour_count()

    def hour_count(self) -> int:
        horizon = self.clock() - HOUR
        while self.window and self.window[0] <= horizon:
            self.window.popleft()
        return len(self.window)

    @contextmanager
    def in_flight_call(self, entity: str, thread_limit: int) -> Iterator[bool]:
        """Track one running call; yields whether it is over the thread limit."""
        self.in_flight[entity] += 1
        running = self.in_flight[entity]
        self.max_concurrent[entity] = max(self.max_concurrent[entity], running)
        over = running > thread_limit
        if over:
            self.over_thread_limit += 1
        try:
            yield over
        finally:
            self.in_flight[entity] -= 1

    def snapshot(self) -> dict:
        return {
            "total": sum(sum(c.values()) for c in self.by_entity.values()),
            "by_entity": {entity: dict(counts) for entity, counts in sorted(self.by_entity.items())},
            "max_concurrent": dict(self.max_concurrent),
            "over_thread_limit": self.over_thread_limit,
            "current_hour": self.hour_count(),
            "zone_lookups": self.zone_lookups,
            "rejected_auth": self.rejected_auth,
        }


@dataclass
class Fault:
    status: int
    message: str
    count: int
    entity: str | None = None  # None: any entity
    method: str | None = None  # None: any HTTP method

    def matches(self, entity: str, method: str) -> bool:
        return (self.count > 0
                and (self.entity is None or self.entity.lower() == entity.lower())
                and (self.method is None or self.method.upper() == method.upper()))

    def view(self) -> dict:
        return {"entity": self.entity, "method": self.method, "status": self.status,
                "message": self.message, "count": self.count}


class Faults:
    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self.pending.append(fault)

    def take(self, entity: str, method: str) -> Fault | None:
        for fault in self.pending:
            if fault.matches(entity, method):
                fault.count -= 1
                if fault.count == 0:
                    self.pending.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self.pending.clear()
