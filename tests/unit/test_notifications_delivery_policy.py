"""After a failed attempt: retry with backoff, wait for an address, or give up with the reason."""
from __future__ import annotations

import pytest

from billing_notifications.domain.delivery_policy import GiveUp, Problem, RetryLater, RetryPolicy, decide

pytestmark = pytest.mark.timeout(10)

POLICY = RetryPolicy(base_seconds=5, max_seconds=60, max_attempts=4, wait_seconds=600)


def test_backoff_doubles_and_is_capped():
    assert [POLICY.backoff(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]


def test_transient_problems_are_retried_until_the_last_attempt():
    problem = Problem("SMTP server unreachable")
    assert decide(problem, attempts=1, age_seconds=1, policy=POLICY) == RetryLater(5, "SMTP server unreachable", False)
    assert isinstance(decide(problem, attempts=3, age_seconds=1, policy=POLICY), RetryLater)
    final = decide(problem, attempts=4, age_seconds=1, policy=POLICY)
    assert final == GiveUp("SMTP server unreachable (gave up after 4 attempts)")


def test_giving_up_on_an_uncertain_attempt_says_so():
    final = decide(Problem("PSA answered 500", uncertain=True), attempts=4, age_seconds=1, policy=POLICY)
    assert isinstance(final, GiveUp) and "outcome is unknown" in final.reason
    again = decide(Problem("PSA answered 500", uncertain=True), attempts=1, age_seconds=1, policy=POLICY)
    assert isinstance(again, RetryLater) and again.uncertain


def test_permanent_problems_fail_at_once():
    assert decide(Problem("550 no such user", "permanent"), attempts=1, age_seconds=0, policy=POLICY) == \
        GiveUp("550 no such user")


def test_waiting_for_an_address_ignores_attempts_but_not_time():
    waiting = Problem("no email address known", "waiting")
    later = decide(waiting, attempts=50, age_seconds=590, policy=POLICY)
    assert isinstance(later, RetryLater) and later.delay_seconds == 10  # never past the window
    final = decide(waiting, attempts=51, age_seconds=600, policy=POLICY)
    assert isinstance(final, GiveUp) and final.reason.startswith("no email address known (waited 600s)")
