"""The SMTP side: an aiosmtpd protocol served on the caller's event loop (no thread)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from .mailbox import Mailbox, parse_message


class SinkHandler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.mailbox.settings.reject:
            self.mailbox.rejected += 1
            return self.mailbox.settings.reply()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.mailbox.settings.reject:
            self.mailbox.rejected += 1
            return self.mailbox.settings.reply()
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        self.mailbox.messages.append(
            parse_message(envelope.mail_from or "", list(envelope.rcpt_tos), raw)
        )
        return "250 Message accepted for delivery"


def _accept_any_login(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    # Dev sink: whatever credentials a service is configured with are fine.
    return AuthResult(success=True)


def _drop_login_data_warning(record: logging.LogRecord) -> bool:
    # aiosmtpd 1.4 warns about its own deprecated attribute on every successful AUTH.
    return not str(record.msg).startswith("Session.login_data is deprecated")


async def start_smtp_server(mailbox: Mailbox, host: str, port: int,
                            sessions: weakref.WeakSet[SMTP] | None = None) -> asyncio.Server:
    aiosmtpd_log = logging.getLogger("mail.log")
    if _drop_login_data_warning not in aiosmtpd_log.filters:
        aiosmtpd_log.addFilter(_drop_login_data_warning)
    handler = SinkHandler(mailbox)
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        session = SMTP(
            handler,
            hostname="smtp-sink.local",
            auth_require_tls=False,
            authenticator=_accept_any_login,
            loop=loop,
        )
        if sessions is not None:
            sessions.add(session)
        return session

    return await loop.create_server(protocol, host=host, port=port)


class SmtpListener:
    """The SMTP port, which tests may close and reopen to play "SMTP server down"."""

    def __init__(self, mailbox: Mailbox, host: str, port: int) -> None:
        self.mailbox = mailbox
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        # Open sessions: clients keep connections for many messages, so "down" must end them too.
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def running(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        if self._server is None:
            self._server = await start_smtp_server(self.mailbox, self.host, self.port, self._sessions)
            self.port = self._server.sockets[0].getsockname()[1]  # the real one when 0 was asked

    async def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.close()
            for session in list(self._sessions):
                if session.transport is not None:
                    session.transport.close()
            await server.wait_closed()
