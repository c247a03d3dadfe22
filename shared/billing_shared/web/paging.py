"""Cursor paging for every list: `{"items": [...], "next_cursor": "opaque" | null}`.

The cursor is the sort key of the last item returned, base64-encoded: stable while rows are added,
unlike an offset.
"""
from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

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
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid_request("cursor is not one this API returned", {"cursor": cursor}) from None
    if not isinstance(value, list):
        raise invalid_request("cursor is not one this API returned", {"cursor": cursor})
    return value


def next_cursor(rows: Sequence[Any], limit: int, key: Any) -> str | None:
    """Callers fetch `limit + 1` rows: if the extra one came, there is a next page."""
    if len(rows) <= limit:
        return None
    return encode_cursor(key(rows[limit - 1]))
