"""The past-due reminder schedule on a fake calendar (issue 12, item 3)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing_notifications.domain.reminders import ScheduleError, due_step, schedule_of, window

DUE = date(2026, 11, 1)
SCHEDULE = (1, 7, 14)


def on(day: int) -> date:
    return DUE + timedelta(days=day)


@pytest.mark.parametrize(("late", "step"), [
    (-3, None), (0, None), (1, 1), (3, 1), (4, None), (6, None), (7, 7), (9, 7), (10, None), (14, 14), (16, 14),
    (17, None), (400, None),
])
def test_the_step_reached_is_sent_on_its_day_or_late_within_the_catch_up_days(late, step):
    assert due_step(DUE, on(late), SCHEDULE, catch_up_days=3) == step


def test_switching_reminders_on_does_not_remind_old_invoices():
    assert due_step(date(2024, 1, 31), date(2026, 12, 1), SCHEDULE, catch_up_days=3) is None


@given(st.lists(st.integers(1, 365), min_size=1, max_size=10, unique=True), st.integers(-30, 800),
       st.integers(1, 10))
def test_a_step_is_one_of_the_schedule_and_due_dates_in_the_window_are_those_that_can_have_one(days, late, catch_up):
    schedule = schedule_of(days)
    today = on(late)
    step = due_step(DUE, today, schedule, catch_up_days=catch_up)
    first, last = window(today, schedule, catch_up_days=catch_up)  # type: ignore[misc]
    if step is not None:  # the query's window never leaves out an invoice with a step to send
        assert first <= DUE <= last
        assert step in schedule and step <= late < step + catch_up


@pytest.mark.parametrize("days", [[0], [366], [1, 1], list(range(1, 12)), [True], [2.5]])
def test_a_bad_schedule_is_refused(days):
    with pytest.raises(ScheduleError):
        schedule_of(days)


def test_a_schedule_is_kept_in_order_and_empty_means_none():
    assert schedule_of([14, 1, 7]) == (1, 7, 14)
    assert schedule_of([]) == () and window(DUE, (), catch_up_days=3) is None
