"""What can go wrong talking to QuickBooks Online, as exceptions a caller can act on.

- QuickBooksFault: QuickBooks refused the request (a `Fault` body); fix the request.
- QuickBooksAuthError: the refresh token or client credentials are dead; the
  integration must be re-authorised by a person.
- QuickBooksUnavailable: connection error, timeout, 5xx, throttled past the retries;
  try again later.
Messages never carry tokens or secrets: only status, codes and QuickBooks' own text.
"""

from __future__ import annotations

from typing import Any

STALE_OBJECT = "5010"


class QuickBooksError(Exception):
    pass


class QuickBooksFault(QuickBooksError):
    def __init__(self, status: int, code: str, message: str, detail: str = "") -> None:
        super().__init__(f"QuickBooks fault {code} (HTTP {status}): {message}: {detail}".rstrip(": "))
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail

    @property
    def is_stale_object(self) -> bool:
        return self.code == STALE_OBJECT


class QuickBooksAuthError(QuickBooksError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"QuickBooks authorisation failed ({reason}): {message}")
        self.reason = reason


class QuickBooksUnavailable(QuickBooksError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message if status is None else f"{message} (HTTP {status})")
        self.status = status


class QuickBooksThrottled(QuickBooksUnavailable):
    """Still HTTP 429 after the configured waits."""


def fault_from_body(status: int, body: Any) -> QuickBooksFault:
    """Read either fault shape: `{"Fault": {"Error": [...]}}` or the lowercase 401 `fault`."""
    if isinstance(body, dict):
        fault = body.get("Fault") or body.get("fault")
        if isinstance(fault, dict):
            errors = fault.get("Error") or fault.get("error") or []
            first = errors[0] if errors and isinstance(errors[0], dict) else {}
            return QuickBooksFault(
                status,
                str(first.get("code") or ""),
                str(first.get("Message") or first.get("message") or fault.get("type") or ""),
                str(first.get("Detail") or first.get("detail") or ""),
            )
    return QuickBooksFault(status, "", f"HTTP {status} without a Fault body")
