"""What happens to a request before the API sees it: rate limits, injected faults, counts."""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from typing import Any

from .config import AccountingSimConfig


class RateLimiter:
    """Sliding one-second and one-minute windows per realm (external-apis.md 2.10), and a one-minute
    window of batch requests (a batch is also one request of the others).

    A refused request is not recorded, so a caller that waits gets through.
    """

    def __init__(self, config: AccountingSimConfig) -> None:
        self.config = config
        self._seen: dict[str, deque[float]] = defaultdict(deque)
        self._batches: dict[str, deque[float]] = defaultdict(deque)

    def admit(self, realm: str, *, batch: bool = False) -> bool:
        now = time.monotonic()
        window = self._seen[realm]
        while window and window[0] <= now - 60:
            window.popleft()
        last_second = sum(1 for at in window if at > now - 1)
        if last_second >= self.config.rate_limit_per_second:
            return False
        if len(window) >= self.config.rate_limit_per_minute:
            return False
        if batch:
            batches = self._batches[realm]
            while batches and batches[0] <= now - 60:
                batches.popleft()
            if len(batches) >= self.config.rate_limit_batch_per_minute:
                return False
            batches.append(now)
        window.append(now)
        return True

    def reset(self) -> None:
        self._seen.clear()
        self._batches.clear()


@dataclass
class FaultRule:
    path_contains: str
    status: int
    code: str
    count: int
    message: str
    method: str | None

    def matches(self, method: str, path_and_query: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return self.path_contains.lower() in path_and_query.lower()


# Default Fault messages for codes a test is likely to inject (external-apis.md 2.9).
KNOWN_FAULT_MESSAGES = {
    "5010": "Stale Object Error",
    "6210": "Duplicate Document Number Error",
    "6240": "Duplicate Name Exists Error",
    "610": "Object Not Found",
    "3001": "ThrottleExceeded",
    "3200": "AuthenticationFailed",
    "6190": "Invalid Company Status",
    "500": "Unsupported Operation",
}


class FaultInjector:
    """`POST /_sim/faults`: the next N matching calls fail with the given status and code."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self.injected = 0

    def add(self, spec: dict[str, Any]) -> FaultRule:
        code = str(spec.get("code", "6000"))
        rule = FaultRule(
            path_contains=str(spec.get("path_contains", "")),
            status=int(spec.get("status", 400)),
            code=code,
            count=int(spec.get("count", 1)),
            message=str(spec.get("message") or KNOWN_FAULT_MESSAGES.get(code, "Injected fault")),
            method=spec.get("method"),
        )
        if rule.count > 0:
            self.rules.append(rule)
        return rule

    def take(self, method: str, path_and_query: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(method, path_and_query):
                rule.count -= 1
                if rule.count <= 0:
                    self.rules.remove(rule)
                self.injected += 1
                return rule
        return None

    def pending(self) -> list[dict[str, Any]]:
        return [vars(rule).copy() for rule in self.rules]

    def reset(self) -> None:
        self.rules.clear()
        self.injected = 0


class RequestCounter:
    """API calls per entity (or `query`, `cdc`, `oauth`) and method, plus refusals."""

    def __init__(self) -> None:
        self.by_entity: dict[str, Counter[str]] = defaultdict(Counter)
        self.throttled = 0
        self.unauthorized = 0

    def count(self, entity: str, method: str) -> None:
        self.by_entity[entity][method.upper()] += 1

    def snapshot(self) -> dict[str, Any]:
        counts = {entity: dict(methods) for entity, methods in sorted(self.by_entity.items())}
        return {
            "counts": counts,
            "total": sum(sum(m.values()) for m in self.by_entity.values()),
            "throttled": self.throttled,
            "unauthorized": self.unauthorized,
        }

    def reset(self) -> None:
        self.by_entity.clear()
        self.throttled = 0
        self.unauthorized = 0
