"""Email over real SMTP (aiosmtplib). Every send of one notification is the same message: the
Message-ID and Date come from the notification, so a resend after an unknown outcome can be
recognised as a duplicate by any mail system downstream."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import aiosmtplib

from billing_notifications.domain.delivery_policy import Problem, SendFailed


@dataclass(frozen=True)
class OutgoingEmail:
    notification_id: str
    to: list[str]
    subject: str
    body: str
    created_at: datetime


def message_id(notification_id: str, sender: str) -> str:
    domain = sender.rpartition("@")[2] or "billing-link.local"
    return f"<notification-{notification_id}@{domain}>"


class SmtpMailer:
    def __init__(self, *, host: str, port: int, sender: str, sender_name: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 20.0) -> None:
        self.host, self.port = host, port
        self.sender, self.sender_name = sender, sender_name
        self._username, self._password = username, password
        self.starttls, self.timeout = starttls, timeout

    def build(self, mail: OutgoingEmail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = formataddr((self.sender_name, self.sender))
        message["To"] = ", ".join(mail.to)
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(mail.created_at)
        message["Message-ID"] = message_id(mail.notification_id, self.sender)
        message["X-Billing-Notification-Id"] = mail.notification_id
        message.set_content(mail.body)
        return message

    async def send(self, mail: OutgoingEmail) -> tuple[str, list[str]]:
        """Send; answers the Message-ID and who accepted it. Raises SendFailed with a transient or
        permanent problem."""
        message = self.build(mail)
        try:
            errors, _ = await aiosmtplib.send(
                message, sender=self.sender, recipients=mail.to, hostname=self.host, port=self.port,
                username=self._username, password=self._password, start_tls=self.starttls, timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0] if exc.recipients else None
            code = min((r.code for r in exc.recipients), default=450)
            detail = f"{first.code} {first.message}" if first else "no detail"
            raise SendFailed(_by_code(code, f"SMTP server refused the recipients: {detail}")) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailed(_by_code(exc.code, f"SMTP server answered {exc.code} {exc.message}")) from None
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            raise SendFailed(Problem(f"SMTP server {self.host}:{self.port} unreachable: "
                                     f"{type(exc).__name__} {exc}".strip())) from None
        # Some recipients refused while others accepted: delivered, to those who accepted.
        return str(message["Message-ID"]), [r for r in mail.to if r not in errors]


# 5xx refuses for good, except the authentication answers: wrong SMTP credentials are a
# configuration an admin fixes, and the emails of that window should go out then.
_AUTH_CODES = {530, 534, 535, 538}


def _by_code(code: int, reason: str) -> Problem:
    return Problem(reason, "permanent" if code >= 500 and code not in _AUTH_CODES else "transient")
