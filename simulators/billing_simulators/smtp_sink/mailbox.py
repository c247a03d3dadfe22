"""Received mail, parsed once into the JSON shape `GET /_sim/messages` serves."""

from __future__ import annotations

import email
import email.policy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any


def parse_message(mail_from: str, rcpt_tos: list[str], raw: bytes) -> dict[str, Any]:
    received_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    plain = _plain_text(raw)
    if plain is not None:
        headers, subject, body, html = *plain, None
    else:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        headers = {}
        for name, value in message.items():
            # A repeated header (Received, ...) keeps every value, one per line.
            headers[name] = f"{headers[name]}\n{value}" if name in headers else str(value)
        subject, body, html = str(message.get("Subject", "")), _part_text(message, "plain"), _part_text(message, "html")
    return {
        "id": uuid.uuid4().hex,
        # The envelope says who really got it (Bcc included); headers keep the display forms.
        "to": list(rcpt_tos),
        "from": mail_from,
        "subject": subject,
        "body": body,
        "html": html,
        "received_at": received_at,
        "headers": headers,
    }


# Encoded words anywhere, and quoted names or comments in addresses, are left to the email package's parser.
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender"})


def _plain_text(raw: bytes) -> tuple[dict[str, str], str, str] | None:
    """The common message (one text/plain part, plain ASCII headers) read with the compat32 parser, a
    tenth of the modern parser's cost with the same result; None for anything else."""
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    if message.is_multipart() or message.get_content_type() != "text/plain":
        return None
    headers: dict[str, str] = {}
    for name, value in message.items():
        if not isinstance(value, str) or not value.isascii() or "=?" in value:
            return None
        if name.lower() in _ADDRESS_HEADERS and ('"' in value or "(" in value):
            return None
        value = value.replace("\r\n", "").replace("\n", "")  # unfolded, as the modern parser shows it
        headers[name] = f"{headers[name]}\n{value}" if name in headers else value
    payload = message.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return None
    text = payload.decode(message.get_content_charset() or "us-ascii", errors="replace")
    return headers, headers.get("Subject", ""), text.replace("\r\n", "\n")


def _part_text(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None:
        return "" if subtype == "plain" else None
    content = part.get_content()
    text = content if isinstance(content, str) else content.decode(errors="replace")
    return text.replace("\r\n", "\n")  # SMTP line endings are transport, not content


@dataclass
class SinkSettings:
    """`PUT /_sim/config`: reject mode answers every RCPT and DATA with `reject_code`."""

    reject: bool = False
    reject_code: int = 451
    reject_message: str = "Requested action aborted: local error in processing (sink in reject mode)"

    def reply(self) -> str:
        enhanced = "4.3.0" if self.reject_code < 500 else "5.3.0"
        return f"{self.reject_code} {enhanced} {self.reject_message}"


@dataclass
class Mailbox:
    messages: list[dict[str, Any]] = field(default_factory=list)
    settings: SinkSettings = field(default_factory=SinkSettings)
    rejected: int = 0

    def clear(self) -> None:
        self.messages.clear()
