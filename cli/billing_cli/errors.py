"""The exit codes scripts can rely on, and the failures that map to them."""
from __future__ import annotations

from typing import Any

OK, FAILED, USAGE, UNREACHABLE = 0, 1, 2, 3


class CliFailure(Exception):
    """Ends the command with `exit_code`; `details` go to --json output as they are."""

    exit_code = FAILED

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message, self.details = message, details or {}


class ServiceFailure(CliFailure):
    """A service answered, with an error (its status and its error body)."""

    def __init__(self, service: str, status: int, body: Any) -> None:
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        text = error.get("message") if isinstance(error, dict) else None
        super().__init__(f"{service} answered {status}" + (f" {code}: {text}" if code else ""),
                         {"service": service, "status": status, "body": body})
        self.status, self.code = status, code


class CheckFailed(CliFailure):
    """Something the command checked is not as it should be (a run failed, a service unhealthy)."""


class BadUsage(CliFailure):
    exit_code = USAGE


class Unreachable(CliFailure):
    exit_code = UNREACHABLE
