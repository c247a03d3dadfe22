"""structlog setup: JSON off a TTY, console on one; context from contextvars; secrets redacted."""
from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

SECRET_KEYS = re.compile(
    r"(secret|password|private_key|security_key|token|authorization|api_key|refresh|signature)", re.I
)
# 13-19 digits, optionally separated: looks like a card or account number.
CARD_LIKE = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return CARD_LIKE.sub("[redacted-number]", value)
    if isinstance(value, dict):
        return {k: ("****" if SECRET_KEYS.search(str(k)) else _redact_value(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_redact_value(v) for v in value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Never log a secret or a card-like number, whatever a caller passes."""
    for key, value in list(event_dict.items()):
        if SECRET_KEYS.search(key) and key != "event":
            event_dict[key] = "****"
        else:
            event_dict[key] = _redact_value(value)
    return event_dict


def configure_logging(service: str, level: str = "INFO", fmt: str = "auto") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
