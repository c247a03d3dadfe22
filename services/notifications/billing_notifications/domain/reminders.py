"""Past-due reminders (no I/O): which step of the schedule an unpaid invoice has reached today.

The schedule is a list of days after the due date (default 1, 7 and 14). An invoice gets the latest
step it has reached, once (the notification's dedupe key is the invoice and the step). A step reached
more than `catch_up_days` ago is not sent any more: a short outage still sends the reminder late, but
switching reminders on (or a first sync of years of history) does not remind every old invoice.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from billing_shared.events.envelope import Data

DEFAULT_DAYS: tuple[int, ...] = (1, 7, 14)
MAX_STEPS = 10
MAX_DAYS = 365


class ScheduleError(ValueError):
    pass


def schedule_of(days: list[int]) -> tuple[int, ...]:
    """A valid schedule: distinct whole days from 1 to 365, at most 10 of them, in order; empty: off."""
    if len(days) > MAX_STEPS:
        raise ScheduleError(f"at most {MAX_STEPS} reminders")
    if any(isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= MAX_DAYS for d in days):
        raise ScheduleError(f"each reminder is a whole number of days from 1 to {MAX_DAYS} after the due date")
    if len(set(days)) != len(days):
        raise ScheduleError("each day may appear once")
    return tuple(sorted(days))


def due_step(due_on: date, today: date, schedule: tuple[int, ...], *, catch_up_days: int) -> int | None:
    """The step to send today, if any (whether it was sent already is the dedupe key's business)."""
    late = (today - due_on).days
    reached = [d for d in schedule if d <= late]
    if not reached:
        return None
    step = reached[-1]
    return step if late - step < catch_up_days else None


def window(today: date, schedule: tuple[int, ...], *, catch_up_days: int) -> tuple[date, date] | None:
    """The due dates that can have a step to send today (inclusive), to narrow the query."""
    if not schedule:
        return None
    return today - timedelta(days=schedule[-1] + catch_up_days - 1), today - timedelta(days=schedule[0])


class PastDue(Data):
    """The facts of a reminder."""
    invoice_id: str
    invoice_number: str
    currency: str
    balance: Decimal
    due_on: date
    days_past_due: int
    step: int
