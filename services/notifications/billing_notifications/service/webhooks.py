"""Signed outbound webhooks (Standard Webhooks): the consumer enqueues, one leader delivers.

The consumer group `notifications-webhooks` only records one message per enabled subscription that wants
the event's type, in the inbox's transaction, so each event becomes each subscription's message exactly
once. The leader (one replica, by advisory lock, woken by NOTIFY) sends the oldest pending message of each
(subscription, organization) lane, several lanes at once; a lane stops at its first failure and waits for
the backoff, so newer messages of that organization never overtake it. Every attempt is logged.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import aiohttp
import structlog
from standardwebhooks import Webhook

from billing_shared.events import Event
from billing_shared.kafka.runner import Batched
from billing_shared.leadership import lead_forever
from billing_shared.outbox import Tx

from billing_notifications.adapters import webhook_store as store
from billing_notifications.adapters.webhook_store import Outgoing
from billing_notifications.domain.triggers import subscription_disabled
from billing_notifications.domain.webhooks import RetryPolicy, SubscriptionDisabled, outcome_error, sendable
from billing_notifications.service.deps import Deps
from billing_notifications.service.intake import Intake

log = structlog.get_logger(__name__)
Lane = tuple[uuid.UUID, str]


async def on_events(tx: Tx, events: list[Event]) -> None:
    """A run of consecutive events of one type (the consumer's batch): enqueued in one go, in order."""
    await store.enqueue_many(tx.conn, events)


on_event = Batched(on_events)


def signed_headers(out: Outgoing, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers: the message id (the same on every attempt and replay), the time of
    this attempt, and the signature of both with the body."""
    webhook_id = str(out.message_id)
    return {
        "content-type": "application/json",
        "user-agent": "billing-link-webhooks/1",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(out.secret).sign(webhook_id, at, out.body),
    }


class WebhookWorker:
    def __init__(self, deps: Deps, intake: Intake, http: aiohttp.ClientSession) -> None:
        assert deps.box is not None, "webhook secrets need SECRETS_KEY"
        self.deps, self.intake, self.http, self.box = deps, intake, http, deps.box
        c = deps.config
        self.policy = RetryPolicy(c.webhook_retry_base_seconds, c.webhook_retry_max_seconds,
                                  c.webhook_retry_horizon_seconds)
        self.running: dict[Lane, asyncio.Task[None]] = {}
        self.wake = asyncio.Event()

    async def run(self) -> None:
        c = self.deps.config
        try:
            await lead_forever(self.deps.pool, lock=store.LOCK, channel=store.CHANNEL, work=self.round,
                               wake=self.wake, idle_seconds=c.webhook_poll_seconds,
                               standby_seconds=c.webhook_poll_seconds * 5, name="webhook delivery")
        finally:
            for task in list(self.running.values()):
                task.cancel()

    async def round(self) -> bool:
        """Start a delivery task for each due lane not being delivered, as far as the concurrency allows; a
        task that ends wakes the next round."""
        heads = await store.lane_heads(self.deps.pool)
        room = self.deps.config.webhook_concurrency - len(self.running)
        for head in sendable(heads, datetime.now(UTC), self.running, room):
            task = asyncio.create_task(self._lane(head.lane), name=f"webhook-lane:{head.subscription_id}")
            self.running[head.lane] = task
            task.add_done_callback(lambda _t, lane=head.lane: self._lane_done(lane))
        return False

    def _lane_done(self, lane: Lane) -> None:
        self.running.pop(lane, None)
        self.wake.set()

    async def _lane(self, lane: Lane) -> None:
        """Send the lane's messages in order until it is empty, or one fails (it waits for its backoff)."""
        try:
            while True:
                out = await store.head(self.deps.pool, self.box, *lane)
                if out is None or out.next_attempt_at > datetime.now(UTC):
                    return
                if not await self.attempt(out):
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the lane is looked at again in the next round
            log.warning("webhook lane failed; tried again", subscription_id=str(lane[0]),
                        error=f"{type(exc).__name__}: {exc}"[:300])

    async def attempt(self, out: Outgoing) -> bool:
        """POST one message; log the attempt, and mark it delivered (2xx) or schedule its retry, disabling
        the subscription (and telling staff) once it has failed past the horizon."""
        timeout = self.deps.config.webhook_timeout_seconds
        at = datetime.now(UTC)
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            async with self.http.post(out.url, data=out.body.encode(), headers=signed_headers(out, at),
                                      timeout=aiohttp.ClientTimeout(total=timeout),
                                      allow_redirects=False) as response:
                status = response.status
        except asyncio.TimeoutError:
            error = f"no answer within {timeout:g} s"
        except (aiohttp.ClientError, ValueError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        duration_ms = int((time.monotonic() - started) * 1000)
        delivered = status is not None and 200 <= status < 300
        async with self.deps.uow.begin() as tx:
            await store.log_attempt(tx.conn, out.message_id, at, status, error, duration_ms)
            if delivered:
                await store.mark_delivered(tx.conn, out.message_id, datetime.now(UTC))
                return True
            failed = outcome_error(status, error)
            since = out.failing_since or at
            retry_at = at + timedelta(seconds=self.policy.delay(out.attempts + 1))
            await store.mark_failed(tx.conn, out.message_id, error=failed, failing_since=since,
                                    next_attempt_at=retry_at)
            if self.policy.gives_up(since, at):
                reason = f"deliveries failed since {since:%Y-%m-%d %H:%M:%S} UTC; the last: {failed}"
                if await store.disable(tx.conn, out.subscription_id, reason):
                    await self.intake.record(tx, subscription_disabled(SubscriptionDisabled(
                        subscription_id=str(out.subscription_id), url=out.url, reason=reason, failing_since=since,
                        message_id=str(out.message_id), event_type=out.event_type)))
                    log.warning("webhook subscription disabled", subscription_id=str(out.subscription_id),
                                reason=reason)
        return False
