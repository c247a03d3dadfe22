"""Cursor paging for every list: `{"items": [...], "next_cursor": "opaque" | null}`.

The cursor is the sort key of the last item returned, base64-encoded: stable while rows are added,
unlike an offset.
"""
from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from aiohttp import web

from billing_shared.text import CONTROL_CHARACTERS

from .errors import invalid_request

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: list[Any] | None  # the sort key of the last item of the previous page


def page_request(request: web.Request) -> PageRequest:
    raw_limit = request.query.get("limit", str(DEFAULT_LIMIT))
    try:
        limit = int(raw_limit)
    except ValueError:
        raise invalid_request("limit must be a whole number", {"limit": raw_limit}) from None
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid_request(f"limit must be between 1 and {MAX_LIMIT}", {"limit": limit})
    cursor = request.query.get("cursor")
    return PageRequest(limit, decode_cursor(cursor) if cursor else None)


def encode_cursor(key: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key), default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, RecursionError):
        raise _refused() from None
    if not isinstance(value, list):
        raise _refused()
    return value


# The sort keys a cursor holds, checked before they reach a query: a cursor this API did not hand out
# answers 422 `invalid_request`, never a 500 from a failed parse or a database type error.

def _refused() -> Exception:
    return invalid_request("cursor is not one this API returned",
                           {"fields": {"cursor": "is not one this API returned"}})


def text_after(page: PageRequest) -> str:
    """A list ordered by one text key: the key of the last item returned ("" on the first page)."""
    if page.after is None:
        return ""
    if len(page.after) != 1 or not isinstance(page.after[0], str) or CONTROL_CHARACTERS.search(page.after[0]):
        raise _refused()
    return page.after[0]


def int_before(page: PageRequest) -> int | None:
    """A list ordered by a `bigint` key, newest first: the key of the last item returned."""
    if page.after is None:
        return None
    if len(page.after) != 1 or type(page.after[0]) is not int or not 0 <= page.after[0] < 2**63:
        raise _refused()
    return page.after[0]


def date_and_text_before(page: PageRequest) -> tuple[date, str] | None:
    """A list ordered by (date, text key), newest first: the key of the last item returned."""
    if page.after is None:
        return None
    try:
        day, key = page.after
        before = date.fromisoformat(day), key
    except (TypeError, ValueError, AttributeError):
        raise _refused() from None
    if not isinstance(key, str) or CONTROL_CHARACTERS.search(key):
        raise _refused()
    return before


def time_and_id_before(page: PageRequest) -> tuple[datetime, uuid.UUID] | None:
    """A list ordered by (timestamp, uuid), newest first: the key of the last item returned."""
    if page.after is None:
        return None
    try:
        stamp, key = page.after
        before = datetime.fromisoformat(stamp), uuid.UUID(key)
    except (TypeError, ValueError, AttributeError):  # wrong shape, not a timestamp, not a uuid
        raise _refused() from None
    if before[0].tzinfo is None:
        raise _refused()
    return before


def next_cursor(rows: Sequence[Any], limit: int, key: Any) -> str | None:
    """Callers fetch `limit + 1` rows: if the extra one came, there is a next page."""
    if len(rows) <= limit:
        return None
    return encode_cursor(key(rows[limit - 1]))
