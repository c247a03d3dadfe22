"""Typed failures of the Autotask REST API.

The API answers errors as {"errors": ["message", ...]} [C: AT-DJ]. Statuses
are not always what they mean: some permission failures come back as 500
("...does not have the adequate permissions"), and so does a write to a
missing record ("No matching records found") [T: AT-DJ]. `error_for` sorts
that out so callers catch meaning, not numbers.
"""

from __future__ import annotations

import json
from typing import Callable, Sequence

PERMISSION_TEXT = "does not have the adequate permissions"
NOT_FOUND_TEXT = "no matching records found"
# The real throttling text is unpublished [?]; these cover the simulator's
# "Request limit exceeded" and the usual wordings.
RATE_LIMIT_TEXTS = ("limit exceeded", "threshold", "too many requests")


class PsaError(Exception):
    """Any failure talking to the PSA; `messages` are the API's errors[]."""

    def __init__(self, message: str, *, status: int | None = None,
                 messages: Sequence[str] = (), entity: str | None = None,
                 method: str | None = None) -> None:
        self.status = status
        self.messages = list(messages)
        self.entity = entity
        self.method = method
        detail = "; ".join(self.messages)
        super().__init__(f"{message}: {detail}" if detail else message)


class PsaAuthError(PsaError):
    """401 that survived a fresh zone lookup, or a zone lookup that refused the user."""


class PsaPermissionError(PsaError):
    """403, or 500 saying the API user lacks the permission."""


class PsaNotFound(PsaError):
    """404, or a write to a record that does not exist."""


class PsaUnavailable(PsaError):
    """Connection failures, timeouts and 5xx answers: worth retrying later."""


class PsaRateLimited(PsaUnavailable):
    """The API (or our own budget) says the hourly allowance is used up.
    Not retried on the spot: retrying only burns more of the allowance."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PsaBudgetExhausted(PsaRateLimited):
    """Refused locally by RequestBudget before any request was sent."""


def parse_error_messages(body: bytes, redact: Callable[[str], str] = lambda s: s) -> list[str]:
    """errors[] from a body; a non-JSON body (a proxy's HTML page) gives its first 200 chars."""
    text = body.decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list):
            return [redact(e if isinstance(e, str) else json.dumps(e)) for e in errors]
        if isinstance(errors, str):
            return [redact(errors)]
    return [redact(text.strip()[:200])] if text.strip() else []


def error_for(status: int, messages: list[str], *, entity: str, method: str,
              url: str | None = None) -> PsaError:
    what = f"Autotask {method} {entity} answered {status}" + (f" at {url}" if url else "")
    context = dict(status=status, messages=messages, entity=entity, method=method)
    joined = " ".join(messages).lower()
    if status == 401:
        return PsaAuthError(what, **context)
    if status == 403 or (status >= 500 and PERMISSION_TEXT in joined):
        return PsaPermissionError(what, **context)
    if status == 404 or (status >= 500 and NOT_FOUND_TEXT in joined):
        return PsaNotFound(what, **context)
    if status == 429 or (status >= 500 and any(t in joined for t in RATE_LIMIT_TEXTS)):
        return PsaRateLimited(what, **context)
    if status >= 500:
        return PsaUnavailable(what, **context)
    return PsaError(what, **context)
