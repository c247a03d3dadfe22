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
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    headers: dict[str, str] = {}
    for name, value in message.items():
        # A repeated header (Received, ...) keeps every value, one per line.
        headers[name] = f"{headers[name]}\n{value}" if name in headers else str(value)
    return {
        "id": uuid.uuid4().hex,
        # The envelope says who really got it (Bcc included); headers keep the display forms.
        "to": list(rcpt_tos),
        "from": mail_from,
        "subject": str(message.get("Subject", "")),
        "body": _part_text(message, "plain"),
        "html": _part_text(message, "html"),
        "received_at": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "headers": headers,
    }


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
