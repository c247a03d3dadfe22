"""Email over real SMTP (aiosmtplib). Every send of one notification is the same message: the
Message-ID and Date come from the notification, so a resend after an unknown outcome can be
recognised as a duplicate by any mail system downstream.

Sends go over a few kept-open connections (at most `connections` at once), each carrying one
message after another: a connection per message cost its connect, greeting, EHLO and QUIT, most of
an email's CPU. A connection that fails in any way is closed, never reused; an idle one the server
may have dropped gets one more try on a new connection."""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr

import aiosmtplib

from billing_notifications.domain.delivery_policy import Problem, SendFailed

_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP  # readable in the raw, like the email package's own choice for text


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
                 password: str | None = None, starttls: bool = False, timeout: float = 20.0,
                 connections: int = 4, idle_seconds: float = 30.0) -> None:
        self.host, self.port = host, port
        self.sender, self.sender_name = sender, sender_name
        self._username, self._password = username, password
        self.starttls, self.timeout = starttls, timeout
        self.idle_seconds = idle_seconds  # an idle connection older than this is closed, not reused
        self._slots = asyncio.Semaphore(max(1, connections))
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []  # newest last
        self.connects = 0  # connections opened (tests, metrics)

    def build(self, mail: OutgoingEmail) -> MIMEText:
        # The compat32 classes: the email package's header registry cost several ms per message.
        ascii_body = mail.body.isascii()
        message = MIMEText(mail.body, "plain", "us-ascii" if ascii_body else _UTF8)  # type: ignore[arg-type]
        message["From"] = formataddr((self.sender_name, self.sender))
        message["To"] = ", ".join(mail.to)
        message["Subject"] = mail.subject if mail.subject.isascii() else Header(mail.subject, "utf-8").encode()
        message["Date"] = format_datetime(mail.created_at)
        message["Message-ID"] = message_id(mail.notification_id, self.sender)
        message["X-Billing-Notification-Id"] = mail.notification_id
        return message

    async def send(self, mail: OutgoingEmail) -> tuple[str, list[str]]:
        """Send; answers the Message-ID and who accepted it. Raises SendFailed with a transient or
        permanent problem."""
        message = self.build(mail)
        try:
            async with self._slots:
                errors = await self._send(message, mail.to)
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

    async def _send(self, message: MIMEText, to: list[str]) -> dict:
        smtp = self._reusable()
        if smtp is not None:
            try:
                return await self._over(smtp, message, to)
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
                pass  # the server dropped the idle connection: once more on a new one
        smtp = aiosmtplib.SMTP(hostname=self.host, port=self.port, username=self._username,
                               password=self._password, start_tls=self.starttls, timeout=self.timeout)
        try:
            await smtp.connect()
        except BaseException:
            smtp.close()
            raise
        self.connects += 1
        return await self._over(smtp, message, to)

    async def _over(self, smtp: aiosmtplib.SMTP, message: MIMEText, to: list[str]) -> dict:
        try:
            errors, _ = await smtp.send_message(message, sender=self.sender, recipients=to)
        except BaseException:  # refused, cut off or broken: its state is unknown, so it goes
            smtp.close()
            raise
        self._idle.append((smtp, time.monotonic()))
        return errors

    def _reusable(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            smtp, since = self._idle.pop()
            if smtp.is_connected and now - since < self.idle_seconds:
                return smtp
            smtp.close()
        return None

    async def close(self) -> None:
        """Say goodbye on every kept connection (at shutdown)."""
        idle, self._idle = self._idle, []
        for smtp, _ in idle:
            try:
                await asyncio.wait_for(smtp.quit(), timeout=1)
            except Exception:  # noqa: BLE001 - closing anyway
                smtp.close()


# 5xx refuses for good, except the authentication answers: wrong SMTP credentials are a
# configuration an admin fixes, and the emails of that window should go out then.
_AUTH_CODES = {530, 534, 535, 538}


def _by_code(code: int, reason: str) -> Problem:
    return Problem(reason, "permanent" if code >= 500 and code not in _AUTH_CODES else "transient")
