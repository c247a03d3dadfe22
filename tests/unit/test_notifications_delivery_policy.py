"""After a failed attempt: retry with capped backoff until a time horizon, wait for an address, or
give up with the reason."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from billing_notifications.config import NotificationsSettings
from billing_notifications.domain.delivery_policy import GiveUp, Problem, RetryLater, RetryPolicy, decide
from billing_notifications.domain.tickets import refusal_kind

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


def test_backoff_is_jittered_within_bounds_and_still_grows():
    """Deliveries that failed in one outage come back spread out, never sooner than half their
    delay, and below the cap each delay is at least the previous one's longest."""
    for attempts in range(1, 8):
        full = POLICY.backoff(attempts)
        shortest, longest = POLICY.backoff(attempts, 0.999999), POLICY.backoff(attempts, 0.0)
        assert longest == full and full / 2 <= shortest < full
        if 2 * longest <= POLICY.max_seconds:  # below the cap
            assert POLICY.backoff(attempts + 1, 0.999999) >= longest
    assert POLICY.backoff(50, 0.5) == 45.0  # capped at 60, then jittered
    later = decide(Problem("PSA answered 503"), attempts=3, age_seconds=10, policy=POLICY, rand=0.5)
    assert later == RetryLater(15.0, "PSA answered 503", False)


@pytest.mark.parametrize(("status", "messages", "kind"), [
    # the production ticket: a company the PSA does not have, reported as a 500
    (500, ["Value 0 of companyID does not refer to an existing Companies record."], "permanent"),
    (500, ["Value does not reference an existing entity for taskType . "], "permanent"),
    (500, ["When assigning a Resource, you must assign both a assignedResourceID and assignedResourceRoleID."],
     "permanent"),
    (500, ["Missing required field(s) for Tickets: priority."], "permanent"),
    (500, ["No matching records found. The operation was cancelled."], "permanent"),
    (400, ["The request is invalid."], "permanent"),
    (404, [], "permanent"),
    (422, [], "permanent"),
    # the moment, not the ticket
    (None, [], "transient"),  # connection refused, timeout
    (408, [], "transient"),
    (429, [], "transient"),
    (401, [], "transient"),  # credentials: wrong for every ticket until an admin fixes them
    (403, [], "transient"),
    (500, [], "transient"),
    (500, ["Simulated outage"], "transient"),
    (502, ["<html>Bad Gateway</html>"], "transient"),
    (503, [], "transient"),
    (504, [], "transient"),
])
def test_a_psa_refusal_is_permanent_only_when_it_is_about_the_ticket(status, messages, kind):
    assert refusal_kind(status, messages) == kind


def test_an_attempt_is_bounded_well_inside_the_lease():
    s = NotificationsSettings()
    assert s.delivery_attempt_timeout_seconds <= 15 < s.delivery_lease_seconds
    assert s.smtp_timeout_seconds <= 10 and s.psa_timeout_seconds <= 10
    with pytest.raises(ValidationError, match="DELIVERY_LEASE_SECONDS must be longer"):
        NotificationsSettings(delivery_lease_seconds=10, delivery_attempt_timeout_seconds=15)
