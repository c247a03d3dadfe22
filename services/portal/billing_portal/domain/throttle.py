"""Sign-in throttling: too many recent failures for one account or from one address refuse the attempt."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ThrottleLimits:
    window_minutes: int
    per_account: int
    per_address: int


def refused(limits: ThrottleLimits, account_failures: int, address_failures: int) -> bool:
    """Checked before the password is: a refused attempt costs no hashing and tells nothing."""
    return account_failures >= limits.per_account or address_failures >= limits.per_address
