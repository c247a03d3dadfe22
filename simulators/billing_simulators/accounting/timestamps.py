"""Times as the simulated company file records them.

QuickBooks renders `MetaData` times to the second in the company's time zone. The
simulator keeps UTC with microseconds and never hands out the same instant twice,
so `LastUpdatedTime` watermarks are exact and fast tests need no sleeps.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def parse_instant(text: str) -> datetime:
    """ISO 8601 with or without offset (`-0700`, `-07:00`, `Z`); naive or date-only means UTC."""
    value = datetime.fromisoformat(text.strip())
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def render_instant(value: datetime) -> str:
    return value.isoformat(timespec="microseconds")


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def is_iso_date(text: object) -> bool:
    try:
        date.fromisoformat(str(text))
    except ValueError:
        return False
    return True


class StrictClock:
    """Wall-clock UTC time that always moves forward by at least a microsecond."""

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)

    def now(self) -> datetime:
        current = datetime.now(UTC)
        if current <= self._last:
            current = self._last + timedelta(microseconds=1)
        self._last = current
        return current
