"""What happens after one delivery attempt: done, again later, or failed for good (no I/O).

A channel answers each attempt with `Sent` or `Problem`. A problem is
- `transient`: the other side may work later (SMTP down, PSA errors, refused credentials that an
  admin may fix); retried with exponential backoff (capped at `max_seconds`) with jitter until
  `horizon_seconds` have passed since the delivery's retry window opened, however many attempts
  that takes: an outage of hours loses nothing;
- `waiting`: we lack something another event will bring (no email address in the directory
  yet); retried until `wait_seconds` after the retry window opened, whatever the attempts;
- `permanent`: retrying cannot help (the mail server refused the address for good, the PSA
  rejected the ticket as invalid, no PSA credentials); failed at once.
The retry window opens when the notification is recorded, and again when an admin re-drives a
failed delivery (`POST /v1/deliveries/{id}/retry`).
`uncertain` says the other side may have acted although we saw an error (a ticket create whose
answer was lost): the next attempt looks before it creates.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ProblemKind = Literal["transient", "waiting", "permanent"]


@dataclass(frozen=True)
class Sent:
    external_id: str | None
    recipients: tuple[str, ...] = ()


@dataclass(frozen=True)
class Problem:
    reason: str
    kind: ProblemKind = "transient"
    uncertain: bool = False


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 5.0
    max_seconds: float = 600.0
    horizon_seconds: float = 48 * 3600.0
    wait_seconds: float = 1800.0
    # The share of each delay that is random: deliveries that failed together (one outage) spread
    # out instead of coming back together. At most 0.5, so a delay is never shorter than the
    # previous one's longest: the delays keep growing until the cap.
    jitter: float = 0.5

    def backoff(self, attempts: int, rand: float = 0.0) -> float:
        """Delay after the `attempts`-th failed attempt: base, 2*base, 4*base, ... capped, less up to
        `jitter` of it (`rand` in [0, 1), from the caller: the domain draws no random numbers)."""
        full = min(self.max_seconds, self.base_seconds * 2.0 ** min(60, max(0, attempts - 1)))
        return full * (1.0 - min(0.5, max(0.0, self.jitter)) * min(1.0, max(0.0, rand)))


@dataclass(frozen=True)
class RetryLater:
    delay_seconds: float
    reason: str
    uncertain: bool


@dataclass(frozen=True)
class GiveUp:
    reason: str


def span(seconds: float) -> str:
    """A duration as people read it: 45s, 12m, 3.5h."""
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def decide(problem: Problem, *, attempts: int, age_seconds: float, policy: RetryPolicy,
           rand: float = 0.0) -> RetryLater | GiveUp:
    """`age_seconds`: how long the delivery's retry window has been open; `rand` in [0, 1) picks
    the delay's jitter."""
    if problem.kind == "permanent":
        return GiveUp(problem.reason)
    if problem.kind == "waiting":
        if age_seconds >= policy.wait_seconds:
            return GiveUp(f"{problem.reason} (waited {policy.wait_seconds:.0f}s)")
        delay = min(policy.backoff(attempts, rand), max(0.0, policy.wait_seconds - age_seconds))
        return RetryLater(delay, problem.reason, problem.uncertain)
    if age_seconds >= policy.horizon_seconds:
        reason = f"{problem.reason} (gave up after {attempts} attempts over {span(age_seconds)})"
        if problem.uncertain:
            reason += "; the last attempt's outcome is unknown"
        return GiveUp(reason)
    # The last attempt falls on the horizon, not a whole backoff past it.
    delay = min(policy.backoff(attempts, rand), max(0.0, policy.horizon_seconds - age_seconds))
    return RetryLater(delay, problem.reason, problem.uncertain)


class SendFailed(Exception):
    """Raised by a channel's adapter: the attempt did not deliver, and why."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.reason)
        self.problem = problem
