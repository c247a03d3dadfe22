"""After a failed attempt: retry with capped backoff until a time horizon, wait for an address, or
give up with the reason."""
from __future__ import annotations

import pytest

from billing_notifications.config import NotificationsSettings
from billing_notifications.domain.delivery_policy import GiveUp, Problem, RetryLater, RetryPolicy, decide

pytestmark = pytest.mark.timeout(10)

POLICY = RetryPolicy(base_seconds=5, max_seconds=60, horizon_seconds=3600, wait_seconds=600)
HOUR = 3600.0


def test_backoff_doubles_and_is_capped():
    assert [POLICY.backoff(n) for n in range(1, 7)] == [5, 10, 20, 40, 60, 60]
    assert POLICY.backoff(5000) == 60  # however many attempts a long outage takes


def test_the_default_horizon_is_48_hours_with_backoff_capped_at_10_minutes():
    policy = RetryPolicy()
    assert (policy.horizon_seconds, policy.max_seconds) == (48 * HOUR, 600)
    s = NotificationsSettings()
    assert (s.retry_horizon_seconds, s.retry_max_seconds) == (48 * HOUR, 600)


def test_a_transient_outage_longer_than_ten_minutes_is_still_retried():
    """8 attempts (about 635 s) used to end every delivery of an outage as failed."""
    policy = RetryPolicy()
    problem = Problem("SMTP server unreachable")
    for attempts, age in ((8, 635), (9, 1300), (100, 12 * HOUR), (290, 47.9 * HOUR)):
        later = decide(problem, attempts=attempts, age_seconds=age, policy=policy)
        assert isinstance(later, RetryLater), (attempts, age, later)
        assert later.delay_seconds <= 600
    final = decide(problem, attempts=291, age_seconds=48 * HOUR, policy=policy)
    assert final == GiveUp("SMTP server unreachable (gave up after 291 attempts over 48.0h)")


def test_transient_problems_are_retried_until_the_horizon_whatever_the_attempts():
    problem = Problem("SMTP server unreachable")
    assert decide(problem, attempts=1, age_seconds=1, policy=POLICY) == RetryLater(5, "SMTP server unreachable", False)
    assert isinstance(decide(problem, attempts=1000, age_seconds=3599, policy=POLICY), RetryLater)
    # the last retry falls on the horizon, not a whole backoff past it
    assert decide(problem, attempts=50, age_seconds=3590, policy=POLICY).delay_seconds == 10
    final = decide(problem, attempts=3, age_seconds=3600, policy=POLICY)
    assert final == GiveUp("SMTP server unreachable (gave up after 3 attempts over 60m)")


def test_giving_up_on_an_uncertain_attempt_says_so():
    final = decide(Problem("PSA answered 500", uncertain=True), attempts=4, age_seconds=HOUR, policy=POLICY)
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
