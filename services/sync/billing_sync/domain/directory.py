"""Directory rules: an organization's default contact, and quotes from opportunities. No I/O."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

OPEN_OPPORTUNITY = 1  # Autotask status 1 = active; any other = closed


@dataclass(frozen=True)
class ContactChoice:
    contact_id: str
    email: str | None
    active: bool
    primary: bool
    billing: bool


def default_contact(contacts: Iterable[ContactChoice], accounting_email: str | None) -> str | None:
    """Accounting's contact when accounting is integrated (the active PSA contact with the customer's
    e-mail), else the PSA's billing contact, then its primary contact; the lowest id breaks ties."""
    active = sorted((c for c in contacts if c.active), key=lambda c: c.contact_id)
    if accounting_email:
        wanted = accounting_email.strip().casefold()
        for c in active:
            if c.email and c.email.strip().casefold() == wanted:
                return c.contact_id
    for pick in (lambda c: c.billing, lambda c: c.primary):
        for c in active:
            if pick(c):
                return c.contact_id
    return None


def quote_url(user_fields: Sequence[dict[str, Any]], field_name: str | None) -> str | None:
    """The value of the mapped user-defined field; None when unmapped, missing or blank."""
    if not field_name:
        return None
    wanted = field_name.casefold()
    for udf in user_fields:
        if str(udf.get("name", "")).casefold() == wanted:
            value = str(udf.get("value") or "").strip()
            return value or None
    return None


def is_open(status: int | None) -> bool:
    return status == OPEN_OPPORTUNITY
