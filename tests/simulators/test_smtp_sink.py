"""The SMTP sink: real SMTP in (aiosmtplib), JSON out, and its failure modes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email.message import EmailMessage
from typing import Any

import aiohttp
import aiosmtplib
import pytest
from billing_simulators.smtp_sink import SinkHandle, start_sink

pytestmark = pytest.mark.timeout(15)


@pytest.fixture
async def sink() -> AsyncIterator[SinkHandle]:
    handle = await start_sink("127.0.0.1", smtp_port=0, http_port=0)
    yield handle
    await handle.stop()


async def _http(sink: SinkHandle, method: str, path: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession() as http:
        async with http.request(method, f"{sink.http_url}{path}", json=body) as response:
            assert response.status == 200, await response.text()
            return await response.json()


def _message(to: str = "ap@acme.example", subject: str = "Payment received: invoice 1042") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Billing <billing@msp.example>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("We received 500.00 USD for invoice 1042.\nThank you.")
    message.add_alternative("<p>We received <b>500.00 USD</b>.</p>", subtype="html")
    return message


async def _send(sink: SinkHandle, message: EmailMessage, **kwargs: Any) -> None:
    await aiosmtplib.send(message, hostname=sink.host, port=sink.smtp_port, timeout=5, **kwargs)


async def test_sent_mail_shows_up_with_recipients_subject_and_text_body(sink: SinkHandle) -> None:
    await _send(sink, _message(), username="notifications", password="anything")

    [stored] = await _http(sink, "GET", "/_sim/messages")

    assert stored["to"] == ["ap@acme.example"]
    assert stored["from"] == "billing@msp.example"
    assert stored["subject"] == "Payment received: invoice 1042"
    assert stored["body"] == "We received 500.00 USD for invoice 1042.\nThank you.\n"
    assert stored["html"] == "<p>We received <b>500.00 USD</b>.</p>\n"
    assert stored["headers"]["From"] == "Billing <billing@msp.example>"
    assert stored["received_at"].endswith("Z")


async def test_messages_can_be_filtered_by_recipient_and_cleared(sink: SinkHandle) -> None:
    await _send(sink, _message("ap@acme.example", "one"))
    await _send(sink, _message("owner@other.example", "two"))

    only_acme = await _http(sink, "GET", "/_sim/messages?to=AP@acme.example")
    await _http(sink, "DELETE", "/_sim/messages")

    assert [m["subject"] for m in only_acme] == ["one"]
    assert await _http(sink, "GET", "/_sim/messages") == []


async def test_reject_mode_fails_the_sender_with_a_temporary_error(sink: SinkHandle) -> None:
    config = await _http(sink, "PUT", "/_sim/config", {"reject": True, "reject_code": 451})

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await _send(sink, _message())

    assert config["reject"] is True
    assert [error.code for error in refused.value.recipients] == [451]
    assert await _http(sink, "GET", "/_sim/messages") == []

    await _http(sink, "POST", "/_sim/reset")
    await _send(sink, _message())
    assert len(await _http(sink, "GET", "/_sim/messages")) == 1


async def test_permanent_reject_code_is_used_as_given(sink: SinkHandle) -> None:
    await _http(sink, "PUT", "/_sim/config", {"reject": True, "reject_code": 550})

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await _send(sink, _message())

    assert refused.value.recipients[0].code == 550


async def test_smtp_port_can_be_closed_and_reopened(sink: SinkHandle) -> None:
    await _http(sink, "POST", "/_sim/smtp/stop")
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await _send(sink, _message())

    await _http(sink, "POST", "/_sim/smtp/start")
    await _send(sink, _message())

    assert len(await _http(sink, "GET", "/_sim/messages")) == 1


async def test_stopping_the_sink_closes_both_ports() -> None:
    handle = await start_sink("127.0.0.1", smtp_port=0, http_port=0)
    await handle.stop()

    with pytest.raises(aiosmtplib.SMTPConnectError):
        await _send(handle, _message())
    with pytest.raises(aiohttp.ClientConnectionError):
        await _http(handle, "GET", "/_sim/messages")


def test_the_quick_reading_of_a_plain_message_shows_what_the_full_parser_shows(monkeypatch: pytest.MonkeyPatch):
    """The common message (one text/plain part, plain headers) is read with the compat32 parser, about a
    twentieth of the email package's modern parser's cost; anything else still goes to the full parser."""
    from email.mime.text import MIMEText

    from billing_simulators.smtp_sink import mailbox

    def plain(subject: str, sender: str, body: str) -> bytes:
        m = MIMEText(body, "plain", "utf-8" if not body.isascii() else "us-ascii")
        m["From"], m["To"], m["Subject"] = sender, "ap@acme.example, ar@acme.example", subject
        m["Message-ID"] = "<notification-1@msp.example>"
        return m.as_bytes()

    cases = [plain("Payment received: invoice 1042 " * 4, "Billing <billing@msp.example>", "Thank you.\n"),
             plain("Paid", "Billing <billing@msp.example>", "Merci, 500,00 €\r\nfor invoice 1042"),
             plain("Paid", '"Acme, Inc." <billing@msp.example>', "Thank you."),
             plain("Payé – merci", "Billing <billing@msp.example>", "Thank you."),
             _message().as_bytes()]
    quick = [mailbox._plain_text(raw) is not None for raw in cases]
    assert quick == [True, True, False, False, False]
    seen = [mailbox.parse_message("billing@msp.example", ["ap@acme.example"], raw) for raw in cases]
    monkeypatch.setattr(mailbox, "_plain_text", lambda raw: None)
    full = [mailbox.parse_message("billing@msp.example", ["ap@acme.example"], raw) for raw in cases]
    fields = ("to", "from", "subject", "body", "html", "headers")
    assert [{k: m[k] for k in fields} for m in seen] == [{k: m[k] for k in fields} for m in full]
