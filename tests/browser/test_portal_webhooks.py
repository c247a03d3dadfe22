"""Webhooks in a real browser: an admin subscribes a receiver (the secret shown once), the receiver gets a
payment signed with it, the delivery log shows the attempt, a replay brings the same webhook-id again,
disable and enable, a rotated secret signs the range replayed, and the subscription is deleted; axe-core finds
no serious accessibility violation on the pages."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Page, expect
from standardwebhooks import Webhook, WebhookVerificationError

from billing_shared.events.catalog import BILLING_PAYMENTS
from billing_shared.events.payments import PaymentSucceeded
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import TopicNames, ensure_topics
from devstack.ports import free_port
from tests.browser.conftest import sign_in
from tests.browser.test_portal_accessibility import serious_violations
from tests.e2e.notifications_support import ORG, payment
from tests.support import eventually

pytestmark = pytest.mark.timeout(180)


class Receiver:
    def __init__(self) -> None:
        self.secret = ""
        self.got: list[tuple[str, dict[str, Any]]] = []
        self.forged = 0

    async def handle(self, request: web.Request) -> web.Response:
        try:
            envelope = Webhook(self.secret).verify(await request.text(), dict(request.headers))
        except WebhookVerificationError:
            self.forged += 1
            return web.Response(status=400)
        self.got.append((request.headers["webhook-id"], envelope))
        return web.Response(status=204)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rx = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", rx.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield rx, f"http://127.0.0.1:{port}/hooks"
    finally:
        await runner.cleanup()


async def test_an_admin_subscribes_a_receiver_reads_the_log_replays_rotates_and_deletes(
        full_portal_system, receiver, infra, page: Page):
    rx, url = receiver
    portal = full_portal_system.urls["portal"]
    await sign_in(page, portal, "admin@msp.example")
    await page.get_by_role("link", name="Webhooks").click()
    await expect(page.get_by_role("heading", name="Webhooks", exact=True)).to_be_visible()

    await page.get_by_label("URL").fill(url)
    await page.get_by_role("button", name="Add subscription").click()
    await expect(page.get_by_role("status")).to_have_text("Choose at least one event type.")

    await page.get_by_label("URL").fill(url)
    await page.get_by_label("payment.succeeded").check()
    await page.get_by_role("button", name="Add subscription").click()
    await expect(page.get_by_role("status")).to_have_text("Subscription added")
    rx.secret = await page.locator("#secret").text_content() or ""
    assert rx.secret.startswith("whsec_")

    names = TopicNames(full_portal_system.env["KAFKA_TOPIC_PREFIX"])
    await ensure_topics(infra.kafka_bootstrap, names.all())
    producer = make_producer(infra.kafka_bootstrap)
    await producer.start()
    try:
        event = PaymentSucceeded.new(producer="payments", organization_id=ORG, data=payment())
        await producer.send_and_wait(names(BILLING_PAYMENTS), event.to_json(), key=ORG.encode())
    finally:
        await producer.stop()

    async def received(count: int) -> bool:
        return len(rx.got) >= count
    await eventually(lambda: received(1), timeout=60)
    webhook_id, envelope = rx.got[0]
    assert envelope["event_id"] == str(event.event_id)

    await page.get_by_role("link", name="Go to the subscription").click()
    await expect(page.locator("#status")).to_have_text("Enabled")
    row = page.locator(f"#message-{webhook_id}")
    await expect(row).to_contain_text("Delivered")
    await expect(row).to_contain_text("HTTP 204")
    assert rx.secret not in await page.content()  # shown once

    await row.get_by_role("button", name="Replay").click()
    await expect(page.get_by_role("status")).to_have_text("Message sent again")
    await eventually(lambda: received(2), timeout=30)
    assert rx.got[1][0] == webhook_id

    await page.get_by_role("button", name="Disable").click()
    await expect(page.get_by_role("status")).to_have_text("Subscription disabled")
    await expect(page.locator("#status")).to_have_text("Disabled: disabled by an admin")
    await page.get_by_role("button", name="Replay messages").click()
    await expect(page.get_by_role("status")).to_contain_text("Enable the subscription first")
    await page.get_by_role("button", name="Enable").click()
    await expect(page.get_by_role("status")).to_have_text("Subscription enabled: waiting messages are sent")

    await page.get_by_role("button", name="Rotate secret").click()
    await expect(page.get_by_role("status")).to_have_text("Secret rotated: the old one no longer signs")
    rotated = await page.locator("#secret").text_content() or ""
    assert rotated.startswith("whsec_") and rotated != rx.secret
    rx.secret = rotated
    await page.get_by_role("link", name="Go to the subscription").click()
    await page.get_by_role("button", name="Replay messages").click()
    await expect(page.get_by_role("status")).to_have_text("1 message sent again")
    await eventually(lambda: received(3), timeout=30)
    assert rx.got[2][0] == webhook_id and rx.forged == 0
    await page.reload()
    await expect(page.locator(f"#message-{webhook_id} li")).to_have_count(3)
    assert await serious_violations(page) == []

    await page.get_by_role("button", name="Delete subscription").click()
    await expect(page.get_by_role("status")).to_have_text("Subscription deleted")
    await expect(page.get_by_role("cell", name="No subscription yet.")).to_be_visible()
    assert await serious_violations(page) == []
