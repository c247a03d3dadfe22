"""CSRF tokens: random per session, compared in constant time."""
from __future__ import annotations

import hmac
import secrets

FIELD = "csrf_token"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def matches(expected: str | None, presented: str | None) -> bool:
    return bool(expected and presented) and hmac.compare_digest(expected.encode(), presented.encode())  # type: ignore[union-attr]
