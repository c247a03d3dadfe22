"""Signed outbound webhooks (issue 14 item 2), the notifications service as a process over the real broker
and database, posting to a receiver in this test that verifies every signature with `standardwebhooks`: a
receiver down for a while gets everything in order per organization once it is back; replays of one message
and of a time range come under the same webhook-id; a receiver failing past the retry horizon gets its
subscription disabled and staff a ticket."""
from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from billing_shared.events.catalog import BILLING_PAYMENTS, BILLING_SYNC
from billing_shared.events.payments import PaymentSucceeded
from devstack.ports import free_port
from tests.e2e.conftest import MANAGER
from tests.e2e.notifications_support import ORG, payment, stack, sync_completed  # noqa: F401 - `stack` is a fixture
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)
OTHER = "autotask:679"
FAST = {"WEBHOOK_RETRY_BASE_SECONDS": "0.2", "WEBHOOK_RETRY_MAX_SECONDS": "0.5", "WEBHOOK_POLL_SECONDS": "0.1",
        "WEBHOOK_TIMEOUT_SECONDS": "2"}


@dataclass
class Receiver:
    """A webhook receiver: answers 503 while `down`, else verifies the signature and answers 204."""

    url: str = ""
    secret: str | None = None
    down: bool = False
    refused: int = 0
    forged: list[str] = field(default_factory=list)
    got: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (webhook-id, envelope) in arrival order

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.text()
        if self.down:
            self.refused += 1
            return web.Response(status=503)
        try:
            envelope = Webhook(self.secret or "whsec_AAAA").verify(body, dict(request.headers))
        except WebhookVerificationError as exc:
            self.forged.append(str(exc))
            return web.Response(status=400)
        self.got.append((request.headers["webhook-id"], envelope))
        return web.Response(status=204)

    def event_ids(self, organization_id: str | None = None) -> list[str]:
        return [e["event_id"] for _, e in self.got if organization_id in (None, e["organization_id"])]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rx = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", rx.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    rx.url = f"http://127.0.0.1:{port}/hooks"
    try:
        yield rx
    finally:
        await runner.cleanup()


def paid(organization_id: str) -> PaymentSucceeded:
    return PaymentSucceeded.new(producer="payments", organization_id=organization_id,
                                data=payment(organization_id=organization_id))


async def subscribe(stack, receiver: Receiver, *types: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    created = await stack.api("POST", "/v1/webhooks/subscriptions",
                              {"url": receiver.url, "event_types": list(types)}, status=201)
    receiver.secret = created["secret"]
    return created


async def messages(stack, subscription_id: str, **query: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    params = "&".join(f"{k}={v}" for k, v in {"limit": "500", **query}.items())
    return (await stack.api("GET", f"/v1/webhooks/subscriptions/{subscription_id}/messages?{params}"))["items"]


async def test_a_receiver_down_for_a_while_gets_everything_signed_and_in_order_per_organization(stack, receiver):
    await stack.start(**FAST)
    created = await subscribe(stack, receiver, "payment.succeeded", "payment.succeeded")
    assert created["secret"].startswith("whsec_") and created["event_types"] == ["payment.succeeded"]
    listed = await stack.api("GET", "/v1/webhooks/subscriptions")
    assert [s["subscription_id"] for s in listed["items"]] == [created["subscription_id"]]
    assert "secret" not in listed["items"][0]  # shown once, in the answer that made it
    receiver.down = True

    events = [paid(ORG if n % 2 else OTHER) for n in range(12)]
    await stack.publish(BILLING_PAYMENTS, *events)
    await stack.publish(BILLING_SYNC, sync_completed(at=datetime.now(UTC), organization_id=ORG))  # not wanted
    await stack.publish(BILLING_PAYMENTS, events[0])  # a redelivered event: one message still
    await eventually(lambda: _true(receiver.refused >= 6), timeout=30)
    waiting = await messages(stack, created["subscription_id"], status="pending")
    assert len(waiting) == 12 and not receiver.got

    receiver.down = False

    async def all_in() -> bool:
        return len(receiver.got) >= 12
    await eventually(all_in, timeout=30)
    assert receiver.forged == []
    for org in (ORG, OTHER):  # ordered per organization, each event once
        assert receiver.event_ids(org) == [str(e.event_id) for e in events if e.organization_id == org]
    assert len({webhook_id for webhook_id, _ in receiver.got}) == 12
    first = receiver.got[0][1]
    assert first["event_type"] == "payment.succeeded" and first["data"]["payment_id"]

    rows = await messages(stack, created["subscription_id"])
    assert len(rows) == 12 and all(r["status"] == "delivered" for r in rows)
    assert {r["message_id"] for r in rows} == {webhook_id for webhook_id, _ in receiver.got}
    oldest = rows[-1]
    log = oldest["attempts"]
    assert [a["status_code"] for a in log][-1] == 204 and 503 in [a["status_code"] for a in log]
    assert all(a["duration_ms"] >= 0 and a["attempted_at"] for a in log)
    assert await messages(stack, created["subscription_id"], status="pending") == []


async def _true(value: bool) -> bool:
    return value


async def test_replay_of_one_message_and_of_a_time_range_sends_the_same_webhook_ids_in_order(stack, receiver):
    await stack.start(**FAST)
    before = datetime.now(UTC) - timedelta(seconds=1)
    created = await subscribe(stack, receiver, "payment.succeeded")
    sub = created["subscription_id"]
    events = [paid(ORG) for _ in range(3)]
    await stack.publish(BILLING_PAYMENTS, *events)

    async def delivered(count: int):  # type: ignore[no-untyped-def]
        async def check() -> bool:
            return len(receiver.got) >= count
        await eventually(check, timeout=30)
    await delivered(3)
    original = [webhook_id for webhook_id, _ in receiver.got]

    replayed = await stack.api("POST", f"/v1/webhooks/messages/{original[1]}/replay")
    assert replayed == {"replayed": 1}
    await delivered(4)
    assert receiver.got[3][0] == original[1] and receiver.got[3][1]["event_id"] == str(events[1].event_id)

    # a new secret, shown once: the replays are signed with it
    rotated = await stack.api("POST", f"/v1/webhooks/subscriptions/{sub}/rotate-secret")
    assert rotated["secret"] != created["secret"]
    receiver.secret = rotated["secret"]
    span = {"from": before.isoformat(), "to": (datetime.now(UTC) + timedelta(seconds=1)).isoformat()}
    assert await stack.api("POST", f"/v1/webhooks/subscriptions/{sub}/replay", span) == {"replayed": 3}
    await delivered(7)
    assert [webhook_id for webhook_id, _ in receiver.got[4:]] == original and receiver.forged == []
    rows = {r["message_id"]: r for r in await messages(stack, sub)}
    assert len(rows[original[1]]["attempts"]) == 3 and len(rows[original[0]]["attempts"]) == 2

    empty = {"from": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
             "to": (datetime.now(UTC) + timedelta(days=2)).isoformat()}
    assert await stack.api("POST", f"/v1/webhooks/subscriptions/{sub}/replay", empty) == {"replayed": 0}
    naive = await stack.api("POST", f"/v1/webhooks/subscriptions/{sub}/replay",
                            {"from": "2026-12-01T00:00:00", "to": "2026-12-02T00:00:00"}, status=422)
    assert naive["error"]["code"] == "invalid_request"
    missing = await stack.api("POST", f"/v1/webhooks/messages/{uuid.uuid4()}/replay", status=404)
    assert missing["error"]["code"] == "not_found"


async def test_subscriptions_refuse_unknown_event_types_and_bad_urls_and_are_for_admins(stack, receiver):
    await stack.start(**FAST)
    refused = await stack.api("POST", "/v1/webhooks/subscriptions", {
        "url": receiver.url, "event_types": ["payment.succeeded", "payment.exploded", "invoice.upserted"]},
        status=422)
    assert refused["error"]["code"] == "invalid_request"
    assert refused["error"]["details"]["unknown_types"] == ["payment.exploded", "invoice.upserted"]
    assert "payment.exploded" in refused["error"]["message"]
    for url in ("ftp://erp.example/hooks", "https://erp.example/" + "a" * 2000):
        bad = await stack.api("POST", "/v1/webhooks/subscriptions", {"url": url, "event_types": ["sync.failed"]},
                              status=422)
        assert "url" in bad["error"]["details"]["fields"]
    empty = await stack.api("POST", "/v1/webhooks/subscriptions", {"url": receiver.url, "event_types": []},
                            status=422)
    assert "event_types" in empty["error"]["details"]["fields"]
    await stack.api("GET", "/v1/webhooks/subscriptions", token=MANAGER, status=403)
    created = await subscribe(stack, receiver, "sync.failed")
    changed = await stack.api("PATCH", f"/v1/webhooks/subscriptions/{created['subscription_id']}",
                              {"event_types": ["sync.failed", "nope"]}, status=422)
    assert changed["error"]["details"]["unknown_types"] == ["nope"]
    off = await stack.api("PATCH", f"/v1/webhooks/subscriptions/{created['subscription_id']}", {"enabled": False})
    assert off["enabled"] is False and off["disabled_reason"] == "disabled by an admin"
    await stack.api("DELETE", f"/v1/webhooks/subscriptions/{created['subscription_id']}", status=204)
    await stack.api("GET", f"/v1/webhooks/subscriptions/{created['subscription_id']}", status=404)


async def test_a_receiver_failing_past_the_horizon_gets_its_subscription_disabled_and_staff_a_ticket(stack, receiver):
    await stack.start(**FAST, WEBHOOK_RETRY_HORIZON_SECONDS="1.5")
    created = await subscribe(stack, receiver, "payment.succeeded")
    sub = created["subscription_id"]
    receiver.down = True
    event = paid(ORG)
    await stack.publish(BILLING_PAYMENTS, event)

    async def disabled() -> dict[str, Any] | None:
        row = await stack.api("GET", f"/v1/webhooks/subscriptions/{sub}")
        return row if not row["enabled"] else None
    row = await eventually(disabled, timeout=30)
    assert "HTTP 503" in row["disabled_reason"] and row["pending_messages"] == 1
    attempts = (await messages(stack, sub))[0]["attempts"]
    assert len(attempts) >= 3 and {a["status_code"] for a in attempts} == {503}

    async def ticket() -> list[dict[str, Any]]:
        return await stack.deliveries(type="webhook.subscription_disabled", status="delivered")
    [delivery] = await eventually(ticket, timeout=30)
    assert delivery["channel"] == "ticket" and delivery["organization_id"] == "system"
    refused = receiver.refused
    replay = await stack.api("POST", f"/v1/webhooks/subscriptions/{sub}/replay", {
        "from": "2026-01-01T00:00:00Z", "to": "2099-01-01T00:00:00Z"}, status=409)
    assert replay["error"]["code"] == "subscription_disabled"
    assert receiver.refused == refused  # a disabled subscription sends nothing

    receiver.down = False  # fixed: enabling sends what waited
    again = await stack.api("PATCH", f"/v1/webhooks/subscriptions/{sub}", {"enabled": True})
    assert again["enabled"] is True and again["disabled_reason"] is None

    async def arrived() -> bool:
        return receiver.event_ids() == [str(event.event_id)]
    await eventually(arrived, timeout=30)
    assert len(await stack.deliveries(type="webhook.subscription_disabled")) == 1


async def test_a_hanging_receiver_is_cut_off_by_the_timeout_and_does_not_hold_up_the_others(stack, receiver):
    hung, release = asyncio.Event(), asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        hung.set()
        await release.wait()  # until the test ends
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hang", hang)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await stack.start(**{**FAST, "WEBHOOK_TIMEOUT_SECONDS": "1"})
        stuck = await stack.api("POST", "/v1/webhooks/subscriptions", {
            "url": f"http://127.0.0.1:{port}/hang", "event_types": ["payment.succeeded"]}, status=201)
        await subscribe(stack, receiver, "payment.succeeded")
        first = paid(ORG)
        await stack.publish(BILLING_PAYMENTS, first)
        await asyncio.wait_for(hung.wait(), 30)
        later = [paid(OTHER), paid(ORG)]
        await stack.publish(BILLING_PAYMENTS, *later)
        started = time.monotonic()

        async def all_in() -> bool:
            return len(receiver.got) >= 3
        await eventually(all_in, timeout=30)
        print(f"\nthe healthy receiver had its 3 messages {time.monotonic() - started:.2f} s after the later two "
              "were published, while the other receiver hung")
        assert receiver.event_ids(ORG) == [str(first.event_id), str(later[1].event_id)]
        assert receiver.event_ids(OTHER) == [str(later[0].event_id)]

        async def cut_off() -> list[dict[str, Any]]:
            rows = await messages(stack, stuck["subscription_id"])
            return [a for r in rows for a in r["attempts"] if a["error"]]
        attempts = await eventually(cut_off, timeout=30)
        assert attempts[0]["error"] == "no answer within 1 s" and attempts[0]["status_code"] is None
        assert 900 <= attempts[0]["duration_ms"] < 5000
    finally:
        release.set()
        await runner.cleanup()
