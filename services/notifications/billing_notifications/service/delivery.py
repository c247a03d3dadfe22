"""The delivery worker: claims due deliveries, sends them outside any transaction, retries with
backoff, and records each outcome with its `notification.delivered` / `notification.failed` event
in one transaction (through the outbox).

Each channel has its own lane: its own claims and its own `concurrency` attempts at a time, so a
PSA that is slow or refusing never holds back email (and a mail outage never holds back tickets).
Every attempt is bounded by `attempt_timeout` (its outcome is then unknown and it is retried).

A worker claims no more deliveries than it attempts at once, so no claimed row waits in a queue
while its lease runs out: a row it claims is attempted at once (the claim is its fresh lease), and
a claim handed in from elsewhere (`attempt` without `fresh`) is renewed first and skipped if another
worker has claimed the row since. Together these keep two replicas from sending the same delivery,
as long as the lease outlasts one attempt.

Outcomes are recorded in groups: while one transaction records, the outcomes that arrive meanwhile
wait and go together in the next (one commit for many deliveries, as a database group-commits). A
group that fails is recorded again one delivery at a time, so one bad row loses no other outcome.

A crash after sending and before recording leaves the claim's lease to run out; the next claim
marks the outcome unknown, so a ticket is looked up by its marker before it is created again, and
an email is sent again with the same Message-ID.
"""
from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter

from billing_shared.events.catalog import BILLING_NOTIFICATIONS
from billing_shared.events.notifications import DeliveryOutcomeData, NotificationDelivered, NotificationFailed
from billing_shared.outbox import Tx, UnitOfWork

from billing_notifications.adapters import delivery_store
from billing_notifications.adapters.delivery_store import Claimed
from billing_notifications.domain.delivery_policy import GiveUp, Problem, RetryPolicy, Sent, decide

from .channels import Channel, Outcome

log = structlog.get_logger(__name__)
PRODUCER = "notifications"
ATTEMPTS = Counter("billing_notification_attempts_total", "Delivery attempts by channel and outcome",
                   ["channel", "outcome"])


RECORD_GROUP = 200  # outcomes recorded in one transaction at most


class DeliveryWorker:
    def __init__(self, uow: UnitOfWork, channels: Mapping[str, Channel], policy: RetryPolicy, *,
                 poll_seconds: float = 0.5, concurrency: int = 4, lease_seconds: float = 120.0,
                 attempt_timeout: float | None = None, lane_concurrency: Mapping[str, int] | None = None,
                 listen: bool = False,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 rand: Callable[[], float] = random.random) -> None:
        self.uow = uow
        self.channels = dict(channels)
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.concurrency = max(1, concurrency)
        # A lane's own number of attempts at once (emails share a few SMTP connections and wait on
        # nothing else; the PSA allows 3 requests at once per endpoint), else `concurrency`.
        self.lane_concurrency = {k: max(1, v) for k, v in (lane_concurrency or {}).items()}
        self.lease_seconds = lease_seconds
        self.attempt_timeout = attempt_timeout
        self.clock = clock
        self.rand = rand
        self._unrecorded: list[tuple[Claimed, Outcome, asyncio.Future[None]]] = []
        self._recorder: asyncio.Task[None] | None = None
        # `listen`: a new notification's NOTIFY (at its commit, any replica's) wakes the lanes at once,
        # instead of at their next look (every `poll_seconds`, which still runs: retries fall due
        # by time, and a NOTIFY may be missed while the listening connection is replaced).
        self.listen = listen
        self._wake = {channel: asyncio.Event() for channel in self.channels}

    def _limit(self, channel: str) -> int:
        return self.lane_concurrency.get(channel, self.concurrency)

    async def run(self) -> None:
        """One lane per channel, side by side; if one fails (the database), all stop."""
        try:
            async with asyncio.TaskGroup() as lanes:
                for channel in self.channels:
                    lanes.create_task(self.lane(channel))
                if self.listen:
                    lanes.create_task(self._listen())
        finally:
            if self._recorder is not None:
                self._recorder.cancel()

    async def lane(self, channel: str) -> None:
        """Keep up to `concurrency` attempts of this channel going; claim more as attempts finish."""
        running: set[asyncio.Task[None]] = set()
        limit = self._limit(channel)
        try:
            while True:
                free = limit - len(running)
                claimed = await self.claim(free, channel) if free > 0 else []
                for c in claimed:
                    task = asyncio.create_task(self.attempt(c, fresh=True))
                    running.add(task)
                    task.add_done_callback(self._finished(running))
                if len(running) >= limit:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                elif len(claimed) < free:  # nothing more is due now
                    await self._nap(channel)
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _nap(self, channel: str) -> None:
        wake = self._wake[channel]
        try:
            await asyncio.wait_for(wake.wait(), self.poll_seconds)
        except TimeoutError:
            pass
        wake.clear()

    def _woken(self, *_: object) -> None:
        for wake in self._wake.values():
            wake.set()

    async def _listen(self) -> None:
        while True:
            try:
                async with self.uow.pool.acquire() as conn:
                    await conn.add_listener(delivery_store.WAKE_CHANNEL, self._woken)
                    try:
                        while not conn.is_closed():
                            await asyncio.sleep(5)
                    finally:
                        # A lost connection raises at any question; that error must not replace a cancel
                        with contextlib.suppress(Exception):
                            await conn.remove_listener(delivery_store.WAKE_CHANNEL, self._woken)
            except Exception:  # noqa: BLE001 - the lanes still look every poll_seconds meanwhile
                task = asyncio.current_task()
                if task is not None and task.cancelling():  # stopping (the task group, shutdown): never swallowed
                    raise
                log.warning("listening for new deliveries failed; listening again", exc_info=True)
                await asyncio.sleep(1)

    @staticmethod
    def _finished(running: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            running.discard(task)
            if not task.cancelled() and task.exception() is not None:
                # Recording failed (the database); the claim's lease runs out and the row is retried.
                log.error("delivery attempt could not be recorded", error=repr(task.exception()))
        return done

    async def claim(self, limit: int, channel: str) -> list[Claimed]:
        async with self.uow.pool.acquire() as conn:
            return await delivery_store.claim_due(conn, limit=min(limit, self._limit(channel)),
                                                  lease_seconds=self.lease_seconds, channel=channel)

    async def run_once(self) -> int:
        """Per channel, claim up to its number of attempts at once; attempt each. Returns how many
        were claimed."""
        claimed = [c for channel in self.channels for c in await self.claim(self._limit(channel), channel)]
        await asyncio.gather(*(self.attempt(c, fresh=True) for c in claimed))
        return len(claimed)

    async def attempt(self, c: Claimed, *, fresh: bool = False) -> None:
        """`fresh`: claimed just now by this worker, so the claim is the lease (no renewal needed)."""
        with structlog.contextvars.bound_contextvars(
            notification_id=str(c.notification_id), channel=c.channel, attempt=c.attempts,
        ):
            if not fresh:
                async with self.uow.pool.acquire() as conn:
                    mine = await delivery_store.renew_claim(conn, c, lease_seconds=self.lease_seconds)
                if not mine:
                    ATTEMPTS.labels(c.channel, "claim_lost").inc()
                    log.warning("claim lost before the attempt (its lease ran out); another worker has it")
                    return
            try:
                async with asyncio.timeout(self.attempt_timeout):
                    outcome = await self.channels[c.channel].deliver(c)
            except TimeoutError:
                # Cut off mid-call: the mail server or the PSA may have acted. A ticket is looked up
                # before it is created again; an email goes again as the same message.
                limit = f"{self.attempt_timeout:g}s" if self.attempt_timeout is not None else "its limit"
                outcome = Problem(f"the attempt took longer than {limit}; its outcome is unknown", uncertain=True)
            except Exception as exc:  # noqa: BLE001 - a bug in one delivery must not stop the others
                log.exception("delivery attempt raised")
                outcome = Problem(f"unexpected error: {exc!r}", uncertain=True)
            await self.record(c, outcome)

    async def record(self, c: Claimed, outcome: Outcome) -> None:
        """The attempt's outcome and its event, under the attempt's claim, in the transaction of the
        group of outcomes it joins; returns once that has committed (raises if it could not)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._unrecorded.append((c, outcome, done))
        if self._recorder is None or self._recorder.done():
            self._recorder = asyncio.create_task(self._record_waiting())
        await done

    async def _record_waiting(self) -> None:
        while self._unrecorded:
            group, self._unrecorded = self._unrecorded[:RECORD_GROUP], self._unrecorded[RECORD_GROUP:]
            try:
                await self._record_group([(c, outcome) for c, outcome, _ in group])
                results: list[BaseException | None] = [None] * len(group)
            except Exception:  # noqa: BLE001 - one at a time, so one bad row loses no other outcome
                results = []
                for c, outcome, _ in group:
                    try:
                        await self._record_group([(c, outcome)])
                        results.append(None)
                    except Exception as exc:  # noqa: BLE001 - handed to the attempt that waits
                        results.append(exc)
            for (_, _, done), error in zip(group, results):
                if done.done():  # its attempt was cancelled (shutdown)
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    async def _record_group(self, group: list[tuple[Claimed, Outcome]]) -> None:
        now = self.clock()
        async with self.uow.begin() as tx:
            sent = [(c, outcome) for c, outcome in group if isinstance(outcome, Sent)]
            if sent:
                await self._delivered(tx, sent, now)
            for c, outcome in group:
                if not isinstance(outcome, Sent):
                    await self._not_delivered(tx, c, outcome, now)

    async def _not_delivered(self, tx: Tx, c: Claimed, outcome: Problem, now: datetime) -> None:
        with structlog.contextvars.bound_contextvars(
            notification_id=str(c.notification_id), channel=c.channel, attempt=c.attempts,
        ):
            decision = decide(outcome, attempts=c.attempts, age_seconds=(now - c.retry_since).total_seconds(),
                              policy=self.policy, rand=self.rand())
            if isinstance(decision, GiveUp):
                await self._failed(tx, c, decision.reason, now)
                return
            await delivery_store.mark_retry(tx.conn, c, delay_seconds=decision.delay_seconds, reason=decision.reason,
                                            outcome_unknown=decision.uncertain, waiting=outcome.kind == "waiting")
            ATTEMPTS.labels(c.channel, "retry").inc()
            log.info("delivery will be retried", reason=decision.reason, delay=round(decision.delay_seconds, 2))

    async def _delivered(self, tx: Tx, sent: list[tuple[Claimed, Sent]], now: datetime) -> None:
        """Every sent delivery of the group in one statement; each still under its own claim."""
        rows = [(c, s.external_id, (list(s.recipients) or list(c.recipients)) if c.channel == "email" else [])
                for c, s in sent]
        recorded = await delivery_store.mark_delivered_many(tx.conn, rows)
        for c, s in sent:
            if c.id not in recorded:
                log.warning("sent, but the claim was taken over; its new owner looks first",
                            notification_id=str(c.notification_id), channel=c.channel, external_id=s.external_id)
                continue
            tx.publish(BILLING_NOTIFICATIONS, NotificationDelivered.new(
                producer=PRODUCER, organization_id=c.organization_id, correlation_id=str(c.notification_id),
                data=self._outcome(c, now, external_id=s.external_id)))
            ATTEMPTS.labels(c.channel, "delivered").inc()
        log.debug("delivered", count=len(recorded))

    async def _failed(self, tx: Tx, c: Claimed, reason: str, now: datetime) -> None:
        if not await delivery_store.mark_failed(tx.conn, c, reason=reason):
            return
        tx.publish(BILLING_NOTIFICATIONS, NotificationFailed.new(
            producer=PRODUCER, organization_id=c.organization_id, correlation_id=str(c.notification_id),
            data=self._outcome(c, now, reason=reason)))
        ATTEMPTS.labels(c.channel, "failed").inc()
        log.warning("delivery failed", reason=reason)

    @staticmethod
    def _outcome(c: Claimed, at: datetime, *, reason: str | None = None,
                 external_id: str | None = None) -> DeliveryOutcomeData:
        return DeliveryOutcomeData(notification_id=str(c.notification_id), type=c.type, channel=c.channel, at=at,
                                   attempts=c.attempts, reason=reason, external_id=external_id)
