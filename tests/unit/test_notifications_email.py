"""The email as it goes over SMTP: every send of one notification is the same message."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing_notifications.adapters.smtp_mailer import OutgoingEmail, SmtpMailer

pytestmark = pytest.mark.timeout(10)


def test_a_resend_is_the_same_message_with_the_same_message_id():
    mailer = SmtpMailer(host="127.0.0.1", port=1025, sender="billing@msp.example", sender_name="Acme IT Billing")
    mail = OutgoingEmail("2d3f0c1e-0000-4000-8000-000000000001", ["ap@acme.example"], "Payment received",
                         "Hello Acme Dental,", datetime(2026, 11, 27, 10, 0, tzinfo=UTC))
    first, again = mailer.build(mail), mailer.build(mail)
    assert first.as_bytes() == again.as_bytes()
    assert first["Message-ID"] == "<notification-2d3f0c1e-0000-4000-8000-000000000001@msp.example>"
    assert first["From"] == "Acme IT Billing <billing@msp.example>" and first["To"] == "ap@acme.example"
    assert first["Date"] == "Fri, 27 Nov 2026 10:00:00 +0000"
    assert first["X-Billing-Notification-Id"] == "2d3f0c1e-0000-4000-8000-000000000001"
    assert first.get_payload(decode=True).decode().strip() == "Hello Acme Dental,"


def test_a_refusal_for_good_is_permanent_but_refused_smtp_credentials_are_retried():
    from billing_notifications.adapters.smtp_mailer import _by_code

    assert _by_code(550, "no such user").kind == "permanent"
    assert _by_code(451, "try later").kind == "transient"
    assert _by_code(535, "authentication failed").kind == "transient"  # an admin fixes SMTP_PASSWORD
