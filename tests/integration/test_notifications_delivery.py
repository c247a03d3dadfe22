"""The delivery worker against a real Postgres, the SMTP sink and the PSA simulator (in-process):
exactly one email and one ticket per notification through retries, outages, a crash between
"sent" and "recorded" and two workers racing; transient failures are retried until a time horizon,
permanent ones fail at once, with the reason and a `notification.failed` event; a failed delivery
can be re-driven. Also what intake records: connection failures once per episode, old invoices
not announced."""
from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import pytest

from billing_shared.db import create_pool
from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.events.sync import ConnectionFailedData, IntegrationConnectionFailed, SyncFailed, SyncFailedData
from billing_shared.kafka.topics import TopicNames
from billing_shared.migrations import migrate
from billing_shared.outbox import UnitOfWork
from billing_shared.psa import AutotaskClient, RequestBudget, RetryPolicy as PsaRetry
from billing_notifications.adapters import delivery_store, directory_store, settings_store
from billing_notifications.adapters.psa_tickets import PsaTicketDesk
from billing_notifications.adapters.smtp_mailer import OutgoingEmail, SmtpMailer
from billing_notifications.domain.catalog import ChannelSwitch
from billing_notifications.domain.delivery_policy import RetryPolicy, SendFailed, Sent
from billing_notifications.domain.tickets import TicketingSettings
from billing_notifications.entrypoints.consumers import consumers
from billing_notifications.service import directory
from billing_notifications.service.channels import EmailChannel, TicketChannel
from billing_notifications.service.delivery import DeliveryWorker
from billing_notifications.service.intake import Intake
from billing_simulators.psa import RunningPsaSimulator, running_psa_simulator
from billing_simulators.smtp_sink import SinkHandle, start_sink
from tests.e2e.notifications_support import (
    contact_synced, invoice_synced, organization_synced, payment_succeeded, psa_fault, psa_tickets,
    seed_psa_company, sim_json, sink_messages, sync_completed,
)
from tests.support import eventually

pytestmark = pytest.mark.timeout(60)

FAST = RetryPolicy(base_seconds=0.05, max_seconds=0.2, horizon_seconds=0.5, wait_seconds=30)


@dataclass
class Rig:
    pool: asyncpg.Pool
    uow: UnitOfWork
    sink: SinkHandle
    psa: RunningPsaSimulator
    http: aiohttp.ClientSession
    desk: PsaTicketDesk

    def worker(self, policy: RetryPolicy = FAST, lease_seconds: float = 30.0, **options) -> DeliveryWorker:
        async def recipients(organization_id: str) -> list[str]:
            async with self.pool.acquire() as conn:
                return await directory_store.recipients(conn, organization_id)

        mailer = SmtpMailer(host="127.0.0.1", port=self.sink.smtp_port, sender="billing@msp.example",
                            sender_name="Billing", timeout=5)
        async def desk() -> PsaTicketDesk:
            return self.desk

        channels = {"email": EmailChannel(mailer, recipients, None), "ticket": TicketChannel(desk)}
        return DeliveryWorker(self.uow, channels, policy, lease_seconds=lease_seconds, **options)

    async def notify(self, event, *, directory_known: bool = True) -> None:
        async with self.uow.begin() as tx:
            if directory_known:
                await directory.on_organization_synced(tx, organization_synced())
                await directory.on_contact_synced(tx, contact_synced())
            await Intake().handle(tx, event)

    async def deliveries(self) -> list[dict]:
        async with self.pool.acquire() as conn:
            return [dict(r) for r in await conn.fetch("SELECT * FROM deliveries ORDER BY channel")]

    async def outbox_types(self) -> list[str]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT payload FROM outbox ORDER BY id")
            return [json.loads(r["payload"])["event_type"] for r in rows]


@pytest.fixture
async def rig(database_url) -> AsyncIterator[Rig]:
    pool = await create_pool(database_url, "notifications", max_size=5)
    await migrate(pool, "notifications", "billing_notifications")
    sink = await start_sink("127.0.0.1", smtp_port=0, http_port=0)
    try:
        async with running_psa_simulator() as psa, aiohttp.ClientSession() as http:
            client = AutotaskClient(http, username="api@msp.example", secret="sim-secret",
                                    integration_code="SIMINTEGRATIONCODE000000000000", base_url=psa.zone_lookup_base,
                                    retry=PsaRetry(attempts=1, base_delay=0.01, max_delay=0.01),
                                    budget=RequestBudget(min_backoff=0.001, max_backoff=0.002), timeout=5)
            await seed_psa_company(http, psa.url)
            async with pool.acquire() as conn:
                await settings_store.save_switches(conn, {"payment.succeeded": ChannelSwitch(email=True, ticket=True)})
            yield Rig(pool, UnitOfWork(pool, TopicNames("")), sink, psa, http, PsaTicketDesk(client))
    finally:
        await sink.stop()
        await pool.close()


async def drain(worker: DeliveryWorker, rig: Rig, until: str = "pending", timeout: float = 20) -> list[dict]:
    """Run the worker until no delivery is `until` any more."""
    async def settled():
        await worker.run_once()
        rows = await rig.deliveries()
        return rows if rows and all(r["status"] != until for r in rows) else None

    return await eventually(settled, timeout=timeout, interval=0.05)


class Crash(Exception):
    pass


class CrashAfterSending(DeliveryWorker):
    """Sends, then dies before recording: the process crash of the issue."""

    async def record(self, c, outcome) -> None:
        raise Crash("crashed between sent and recorded")


async def test_one_email_and_one_ticket_and_their_events(rig):
    await rig.notify(payment_succeeded())
    rows = await drain(rig.worker(), rig)
    assert [(r["channel"], r["status"], r["attempts"]) for r in rows] == [("email", "delivered", 1),
                                                                           ("ticket", "delivered", 1)]
    mails = await sink_messages(rig.http, rig.sink.http_url)
    assert [m["to"] for m in mails] == [["ap@acme.example"]]
    tickets = await psa_tickets(rig.http, rig.psa.url)
    assert len(tickets) == 1 and str(tickets[0]["id"]) == rows[1]["external_id"]
    assert rows[0]["external_id"] == mails[0]["headers"]["Message-ID"]
    assert await rig.outbox_types() == ["notification.created", "notification.delivered", "notification.delivered"]


async def test_a_crash_between_creating_the_ticket_and_recording_it_creates_no_second_ticket(rig):
    await rig.notify(payment_succeeded())
    with pytest.raises(Crash):
        await CrashAfterSending(rig.uow, rig.worker().channels, FAST, lease_seconds=0.5).run_once()

    async def both_sent():
        return (len(await psa_tickets(rig.http, rig.psa.url)) == 1
                and len(await sink_messages(rig.http, rig.sink.http_url)) == 1)

    await eventually(both_sent, timeout=5)  # sent, not recorded
    assert {r["status"] for r in await rig.deliveries()} == {"pending"}
    await asyncio.sleep(0.6)  # the dead worker's lease runs out
    rows = await drain(rig.worker(), rig)
    tickets = await psa_tickets(rig.http, rig.psa.url)
    assert len(tickets) == 1, tickets
    ticket_row = next(r for r in rows if r["channel"] == "ticket")
    assert (ticket_row["status"], ticket_row["external_id"], ticket_row["attempts"]) == \
        ("delivered", str(tickets[0]["id"]), 2)
    requests = await sim_json(rig.http, "GET", f"{rig.psa.url}/_sim/requests")
    assert requests["by_entity"]["Tickets"] == {"POST": 1, "POST query": 1}  # created once, looked up once
    # email has no way to ask; it is sent again as the same message (same Message-ID), never as a new one
    mails = await sink_messages(rig.http, rig.sink.http_url)
    assert len(mails) == 2 and len({m["headers"]["Message-ID"] for m in mails}) == 1
    assert (await rig.outbox_types()).count("notification.delivered") == 2


async def test_a_ticket_create_whose_answer_was_lost_is_looked_up_before_retrying(rig):
    await rig.notify(payment_succeeded())
    await psa_fault(rig.http, rig.psa.url, count=1, method="POST")  # the create answers 500
    rows = await drain(rig.worker(), rig)
    assert [r["status"] for r in rows] == ["delivered", "delivered"]
    assert len(await psa_tickets(rig.http, rig.psa.url)) == 1
    assert rows[1]["attempts"] == 2 and rows[1]["outcome_unknown"] is False


async def test_psa_errors_are_retried_then_the_delivery_fails_with_the_reason(rig):
    await rig.notify(payment_succeeded())
    await psa_fault(rig.http, rig.psa.url, count=1000)
    rows = await drain(rig.worker(), rig)
    email, ticket = rows
    assert email["status"] == "delivered"
    assert ticket["status"] == "failed" and ticket["attempts"] >= 2
    assert "500" in ticket["last_error"] and f"gave up after {ticket['attempts']} attempts over" in ticket["last_error"]
    assert await psa_tickets(rig.http, rig.psa.url) == []
    assert sorted(await rig.outbox_types()) == ["notification.created", "notification.delivered",
                                                "notification.failed"]


async def test_an_smtp_outage_is_retried_and_the_email_goes_out_when_it_returns(rig):
    async with rig.pool.acquire() as conn:
        await settings_store.save_switches(conn, {"payment.succeeded": ChannelSwitch(email=True, ticket=False)})
    await rig.notify(payment_succeeded())
    await rig.sink.smtp.stop()
    slow = RetryPolicy(base_seconds=0.1, max_seconds=0.3, horizon_seconds=60, wait_seconds=30)
    worker = rig.worker(slow)

    async def retried():
        await worker.run_once()
        row = (await rig.deliveries())[0]
        return row["attempts"] >= 3 and row

    row = await eventually(retried, timeout=20, interval=0.05)
    assert row["status"] == "pending" and "unreachable" in row["last_error"]
    await rig.sink.smtp.start()
    rows = await drain(worker, rig)
    assert rows[0]["status"] == "delivered"
    assert len(await sink_messages(rig.http, rig.sink.http_url)) == 1


async def test_a_mail_server_that_refuses_for_good_fails_the_email_at_once(rig):
    await rig.notify(payment_succeeded())
    await sim_json(rig.http, "PUT", f"{rig.sink.http_url}/_sim/config", {"reject": True, "reject_code": 550})
    rows = await drain(rig.worker(), rig)
    assert (rows[0]["status"], rows[0]["attempts"]) == ("failed", 1)
    assert "550" in rows[0]["last_error"]


async def test_an_email_waits_for_the_directory_to_name_its_recipient(rig):
    await rig.notify(payment_succeeded(), directory_known=False)
    patient = RetryPolicy(base_seconds=60, max_seconds=60, horizon_seconds=3600, wait_seconds=600)
    worker = rig.worker(patient)
    await worker.run_once()
    email = (await rig.deliveries())[0]
    assert (email["status"], email["waiting"]) == ("pending", True)
    assert "no email address known for autotask:678" in email["last_error"]
    async with rig.uow.begin() as tx:  # the directory arrives; the waiting email is due again at once
        await directory.on_contact_synced(tx, contact_synced(email="billing@acme.example"))
    rows = await drain(worker, rig, timeout=10)
    assert rows[0]["status"] == "delivered" and rows[0]["recipients"] == ["billing@acme.example"]
    assert [m["to"] for m in await sink_messages(rig.http, rig.sink.http_url)] == [["billing@acme.example"]]


async def test_a_replayed_or_republished_source_records_one_notification(rig):
    event = payment_succeeded(payment_id="p-1")
    for _ in range(5):
        await rig.notify(event)
    await rig.notify(payment_succeeded(payment_id="p-1"))  # the same fact under a new event id
    assert len(await rig.deliveries()) == 2
    assert await rig.outbox_types() == ["notification.created"]


async def test_a_worker_whose_lease_was_taken_over_records_nothing(rig):
    await rig.notify(payment_succeeded())
    async with rig.pool.acquire() as conn:
        stale = await delivery_store.claim_due(conn, limit=1, lease_seconds=0.1)
        await asyncio.sleep(0.2)
        fresh = await delivery_store.claim_due(conn, limit=1, lease_seconds=30)
        assert fresh[0].id == stale[0].id and fresh[0].outcome_unknown
        assert not await delivery_store.mark_delivered(conn, stale[0], external_id="x", recipients=[])
        assert await delivery_store.mark_delivered(conn, fresh[0], external_id="y", recipients=[])


async def email_only(rig: Rig) -> None:
    async with rig.pool.acquire() as conn:
        await settings_store.save_switches(conn, {"payment.succeeded": ChannelSwitch(email=True, ticket=False)})


async def test_an_outage_is_retried_until_the_horizon_not_for_a_number_of_attempts_then_re_driven(rig):
    """8 attempts used to end an outage of ~10 minutes as `failed` for good. Now only
    time ends it (the horizon; 48 h by default, short here), and an admin can re-drive the failed
    delivery: it goes out as the same message."""
    await email_only(rig)
    await rig.notify(payment_succeeded())
    await rig.sink.smtp.stop()
    brief = RetryPolicy(base_seconds=0.01, max_seconds=0.02, horizon_seconds=1.5, wait_seconds=30)
    worker = rig.worker(brief)
    [row] = await drain(worker, rig, timeout=20)
    assert row["status"] == "failed" and row["attempts"] > 8  # far past the old attempt budget
    assert (row["finished_at"] - row["retry_since"]).total_seconds() >= 1.5
    assert "unreachable" in row["last_error"] and f"gave up after {row['attempts']} attempts over" in row["last_error"]
    assert await rig.outbox_types() == ["notification.created", "notification.failed"]

    await rig.sink.smtp.start()
    async with rig.pool.acquire() as conn:
        assert await delivery_store.redrive(conn, row["delivery_id"]) == "failed"
        again = await delivery_store.one(conn, row["delivery_id"])
    assert (again["status"], again["finished_at"]) == ("pending", None)
    assert again["retry_since"] > row["retry_since"]  # a new retry window
    [done] = await drain(worker, rig)
    assert (done["status"], done["attempts"]) == ("delivered", row["attempts"] + 1)
    mails = await sink_messages(rig.http, rig.sink.http_url)
    assert len(mails) == 1 and mails[0]["headers"]["Message-ID"] == \
        f"<notification-{row['notification_id']}@msp.example>" == done["external_id"]
    assert await rig.outbox_types() == ["notification.created", "notification.failed", "notification.delivered"]
    async with rig.pool.acquire() as conn:  # only a failed delivery is re-driven
        assert await delivery_store.redrive(conn, row["delivery_id"]) == "delivered"
        assert (await delivery_store.one(conn, row["delivery_id"]))["status"] == "delivered"
        assert await delivery_store.redrive(conn, row["notification_id"]) is None  # no such delivery


async def test_a_re_driven_ticket_is_looked_up_before_it_is_created_again(rig):
    await rig.notify(payment_succeeded())
    await psa_fault(rig.http, rig.psa.url, count=1000)
    email, ticket = await drain(rig.worker(), rig)
    assert (email["status"], ticket["status"]) == ("delivered", "failed")
    await sim_json(rig.http, "DELETE", f"{rig.psa.url}/_sim/faults")
    await sim_json(rig.http, "DELETE", f"{rig.psa.url}/_sim/requests")
    async with rig.pool.acquire() as conn:
        assert await delivery_store.redrive(conn, ticket["delivery_id"]) == "failed"
    rows = await drain(rig.worker(), rig)
    tickets = await psa_tickets(rig.http, rig.psa.url)
    assert len(tickets) == 1 and rows[1]["external_id"] == str(tickets[0]["id"])
    assert str(ticket["notification_id"]) in tickets[0]["title"]  # the same notification, the same marker
    requests = await sim_json(rig.http, "GET", f"{rig.psa.url}/_sim/requests")
    assert requests["by_entity"]["Tickets"] == {"POST": 1, "POST query": 1}


async def test_a_ticket_the_psa_rejects_as_invalid_fails_at_once_but_refused_credentials_are_retried(rig):
    await rig.notify(payment_succeeded())
    await psa_fault(rig.http, rig.psa.url, count=1000, status=400, method="POST")
    slow = RetryPolicy(base_seconds=0.01, max_seconds=0.02, horizon_seconds=60, wait_seconds=30)
    email, ticket = await drain(rig.worker(slow), rig)
    assert (ticket["status"], ticket["attempts"]) == ("failed", 1)
    assert "400" in ticket["last_error"] and "gave up" not in ticket["last_error"]

    await sim_json(rig.http, "DELETE", f"{rig.psa.url}/_sim/faults")
    await rig.notify(payment_succeeded())
    await psa_fault(rig.http, rig.psa.url, count=1000, status=401)
    worker = rig.worker(slow)

    async def retried():
        await worker.run_once()
        rows = [r for r in await rig.deliveries() if r["channel"] == "ticket" and r["status"] != "failed"]
        return rows and rows[0]["attempts"] >= 3 and rows[0]

    row = await eventually(retried, timeout=20, interval=0.05)
    assert row["status"] == "pending" and "401" in row["last_error"]


class SlowChannel:
    """Takes its time, then succeeds; counts every attempt of every delivery."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.calls: Counter = Counter()

    async def deliver(self, c) -> Sent:
        self.calls[c.delivery_id] += 1
        await asyncio.sleep(self.seconds)
        return Sent(f"sent-{c.delivery_id}")


async def test_two_workers_with_a_slow_channel_attempt_each_delivery_once(rig):
    """A worker that claimed more than it could attempt at once let the back of its
    batch outlive the lease; the other replica took those rows over and both sent them."""
    for _ in range(10):
        await rig.notify(payment_succeeded())  # 20 deliveries: an email and a ticket each
    slow = SlowChannel(0.2)
    workers = [DeliveryWorker(rig.uow, {"email": slow, "ticket": slow}, RetryPolicy(), poll_seconds=0.02,
                              concurrency=2, lease_seconds=1.0) for _ in range(2)]
    tasks = [asyncio.create_task(w.run()) for w in workers]
    try:
        async def all_delivered():
            rows = await rig.deliveries()
            return len(rows) == 20 and all(r["status"] == "delivered" for r in rows) and rows

        rows = await eventually(all_delivered, timeout=30)
        await asyncio.sleep(1.5)  # any row a worker still held past its lease would be attempted again now
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert len(slow.calls) == 20 and set(slow.calls.values()) == {1}, slow.calls
    assert {r["attempts"] for r in await rig.deliveries()} == {1}
    assert (await rig.outbox_types()).count("notification.delivered") == 20
    assert {r["external_id"] for r in rows} == {f"sent-{r['delivery_id']}" for r in rows}


async def test_an_attempt_whose_claim_was_taken_over_is_skipped(rig):
    """The claim is checked again right before the attempt: a worker whose lease ran out before it
    got to the row leaves it to the worker that claimed it since."""
    await rig.notify(payment_succeeded())
    channel = SlowChannel(0)
    worker = DeliveryWorker(rig.uow, {"email": channel, "ticket": channel}, RetryPolicy(), lease_seconds=30)
    async with rig.pool.acquire() as conn:
        stale = await delivery_store.claim_due(conn, limit=2, lease_seconds=0.1)
        await asyncio.sleep(0.2)
        fresh = await delivery_store.claim_due(conn, limit=2, lease_seconds=30)
    assert len(stale) == 2 and {c.id for c in fresh} == {c.id for c in stale}
    await asyncio.gather(*(worker.attempt(c) for c in stale))
    assert channel.calls == Counter()
    rows = await rig.deliveries()
    assert {r["status"] for r in rows} == {"pending"}
    assert {r["claim_token"] for r in rows} == {c.claim_token for c in fresh}
    await asyncio.gather(*(worker.attempt(c) for c in fresh))  # the claim's owner goes ahead
    assert set(channel.calls.values()) == {1} and len(channel.calls) == 2
    assert {r["status"] for r in await rig.deliveries()} == {"delivered"}


def connection_failed(integration: str = "autotask") -> IntegrationConnectionFailed:
    return IntegrationConnectionFailed.new(producer="sync", organization_id="system", data=ConnectionFailedData(
        integration=integration, reason="Autotask refused the credentials: 401 Unauthorized"))


async def consume(rig: Rig, *events) -> None:
    """Through the service's own sync consumer handlers, each event in its own transaction."""
    [sync] = [spec for spec in consumers(Intake()) if spec.topics == (BILLING_SYNC,)]
    for event in events:
        async with rig.uow.begin() as tx:
            await sync.handlers[event.event_type](tx, event)


async def test_a_broken_integration_opens_one_ticket_until_it_works_again(rig):
    """Every hourly run and every connection test of broken credentials raises
    `integration.connection_failed`; that is one ticket per episode, not one per event."""
    await consume(rig, *(connection_failed() for _ in range(3)))  # three runs or tests, one episode
    await consume(rig, connection_failed("quickbooks"))  # another integration: its own episode
    rows = await drain(rig.worker(), rig)
    assert [(r["type"], r["channel"], r["status"]) for r in rows] == [("integration.connection_failed", "ticket",
                                                                       "delivered")] * 2
    tickets = await psa_tickets(rig.http, rig.psa.url)
    assert sorted(t["title"].split(":")[0] for t in tickets) == ["Cannot connect to Autotask",
                                                                 "Cannot connect to QuickBooks Online"]

    # the credentials are fixed: a run completes (the episode ends); then they break again
    await consume(rig, sync_completed(60, at=datetime.now(UTC)), connection_failed(), connection_failed())
    rows = await drain(rig.worker(), rig)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"delivered"}
    tickets = await psa_tickets(rig.http, rig.psa.url)
    assert [t["title"].split(":")[0] for t in tickets].count("Cannot connect to Autotask") == 2
    assert len(tickets) == 3
    assert (await rig.outbox_types()).count("notification.created") == 3


async def test_an_invoice_issued_long_before_it_was_synced_is_not_announced(rig):
    """Go-live: the first full sync publishes every historical open invoice."""
    def issued(days_ago: int, invoice_id: str):
        event = invoice_synced(invoice_id=invoice_id)
        when = (datetime.now(UTC) - timedelta(days=days_ago)).date()
        return event.model_copy(update={"data": event.data.model_copy(update={"issued_on": when})})

    old, recent = issued(31, "autotask:1"), issued(29, "autotask:2")
    async with rig.uow.begin() as tx:
        for event in (old, recent):
            await Intake(invoice_max_age_days=30).handle(tx, event)
    async with rig.pool.acquire() as conn:
        keys = [r["dedupe_key"] for r in await conn.fetch("SELECT dedupe_key FROM notifications")]
    assert keys == ["autotask:2"]


# -- issue 8: one failing ticket starved every email ------------------------------------------------

def sync_failed(run: int) -> SyncFailed:
    return SyncFailed.new(producer="sync", organization_id="system", data=SyncFailedData(
        integration="autotask", run_id=f"run-{run}", reason="Autotask refused the credentials"))


async def ticket_only(rig: Rig) -> None:
    async with rig.pool.acquire() as conn:
        await settings_store.save_switches(conn, {"payment.succeeded": ChannelSwitch(email=False, ticket=True)})


async def test_tickets_the_psa_rejects_fail_at_once_and_never_hold_back_email(rig):
    """Production: `sync.failed` tickets the PSA answered with 500 "Value 0 of companyID does not
    refer to an existing Companies record" were retried as outages, about 30 s an attempt, and
    claimed before the emails recorded after them: 1,370 emails waited more than five minutes.
    Now that answer fails the ticket at once, and emails are claimed in their own lane."""
    async with rig.pool.acquire() as conn:  # internal tickets go to a company the PSA does not have
        await settings_store.save_ticketing(conn, TicketingSettings(internal_company_id=4242))
    await consume(rig, *(sync_failed(run) for run in range(8)))  # recorded first: due first
    await email_only(rig)
    for n in range(40):
        await rig.notify(payment_succeeded(payment_id=f"p-{n}"))
    await sim_json(rig.http, "POST", f"{rig.psa.url}/_sim/config", {"latency_ms": 1500})  # a slow PSA
    patient = RetryPolicy(base_seconds=0.2, max_seconds=1, horizon_seconds=120, wait_seconds=30)
    worker = rig.worker(patient, concurrency=2, poll_seconds=0.02)
    started = time.monotonic()
    task = asyncio.create_task(worker.run())
    try:
        async def emails_sent():
            rows = [r for r in await rig.deliveries() if r["channel"] == "email"]
            return all(r["status"] == "delivered" for r in rows) and rows

        emails = await eventually(emails_sent, timeout=30, interval=0.05)
        emails_took = time.monotonic() - started

        async def tickets_settled():
            rows = [r for r in await rig.deliveries() if r["channel"] == "ticket"]
            return all(r["status"] != "pending" for r in rows) and rows

        tickets = await eventually(tickets_settled, timeout=30, interval=0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # 8 tickets of 1.5 s each, 2 at a time, used to come first: 6 s before the first email
    assert len(emails) == 40 and emails_took < 4.0, emails_took
    assert len(await sink_messages(rig.http, rig.sink.http_url)) == 40
    assert len(tickets) == 8
    for row in tickets:
        assert (row["status"], row["attempts"], row["outcome_unknown"]) == ("failed", 1, False)
        assert "Value 4242 of companyID does not refer to an existing Companies record" in row["last_error"]
        assert "gave up" not in row["last_error"]
    requests = await sim_json(rig.http, "GET", f"{rig.psa.url}/_sim/requests")
    assert requests["by_entity"]["Tickets"] == {"POST": 8}  # one create each, no lookups, no retries
    kinds = Counter(await rig.outbox_types())
    assert (kinds["notification.failed"], kinds["notification.delivered"]) == (8, 40)


async def test_a_temporary_psa_failure_is_retried_with_growing_jittered_delays(rig):
    await ticket_only(rig)
    await rig.notify(payment_succeeded())
    await psa_fault(rig.http, rig.psa.url, count=1000, status=503)
    policy = RetryPolicy(base_seconds=0.1, max_seconds=10, horizon_seconds=60, wait_seconds=30)
    worker = rig.worker(policy)
    delays: list[float] = []

    async def five_attempts():
        await worker.run_once()
        [row] = await rig.deliveries()
        if row["attempts"] > len(delays):
            delays.append((row["next_attempt_at"] - row["updated_at"]).total_seconds())
        return len(delays) >= 5 and row

    row = await eventually(five_attempts, timeout=30, interval=0.02)
    assert row["status"] == "pending" and "503" in row["last_error"] and row["outcome_unknown"]
    full = [0.1 * 2 ** n for n in range(5)]  # 0.1, 0.2, 0.4, 0.8, 1.6
    for delay, longest in zip(delays, full):
        assert longest / 2 - 0.001 <= delay <= longest + 0.001, (delays, full)
    assert delays == sorted(delays) and delays[-1] > 4 * delays[0]  # growing
    assert any(abs(delay - longest) > 0.001 for delay, longest in zip(delays, full)), delays  # jittered


async def test_an_attempt_is_cut_off_after_its_timeout_and_the_ticket_is_not_created_twice(rig):
    """A PSA that takes its time used to hold an attempt (and a worker slot) for as long as it liked."""
    await ticket_only(rig)
    await rig.notify(payment_succeeded())
    await sim_json(rig.http, "POST", f"{rig.psa.url}/_sim/config", {"latency_ms": 2000})
    worker = rig.worker(RetryPolicy(base_seconds=0.05, max_seconds=0.1, horizon_seconds=60), attempt_timeout=0.3)
    started = time.monotonic()
    await worker.run_once()
    assert time.monotonic() - started < 1.5
    [row] = await rig.deliveries()
    assert (row["status"], row["outcome_unknown"]) == ("pending", True)
    assert "the attempt took longer than 0.3s" in row["last_error"]
    await sim_json(rig.http, "POST", f"{rig.psa.url}/_sim/config", {"latency_ms": 0})
    await asyncio.sleep(2.2)  # the PSA finishes the create it was given
    [row] = await drain(worker, rig)
    tickets = await psa_tickets(rig.http, rig.psa.url)
    assert len(tickets) == 1 and row["status"] == "delivered" and row["external_id"] == str(tickets[0]["id"])


async def test_a_ticket_about_no_client_goes_to_the_msps_own_company_zero(rig):
    """Autotask's own company (the MSP's) has id 0 in every instance; the simulator used to answer
    "Value 0 of companyID does not refer to an existing Companies record"."""
    await consume(rig, sync_failed(1))
    [row] = await drain(rig.worker(), rig)
    assert (row["status"], row["attempts"]) == ("delivered", 1)
    [ticket] = await psa_tickets(rig.http, rig.psa.url)
    assert ticket["companyID"] == 0 and str(ticket["id"]) == row["external_id"]


class CountingWorker(DeliveryWorker):
    """Counts the transactions that record outcomes."""

    groups: list[int]

    async def _record_group(self, group) -> None:
        self.groups.append(len(group))
        await super()._record_group(group)


async def test_many_due_emails_go_over_few_smtp_connections_and_are_recorded_in_few_transactions(rig):
    """Each email used to open its own SMTP connection (connect, greeting, EHLO, QUIT: most of an email's
    CPU) and to commit its outcome alone; now a few kept connections carry them all and the outcomes
    that finish together are recorded in one transaction, each still with its own event."""
    await email_only(rig)
    for n in range(12):
        await rig.notify(payment_succeeded(payment_id=f"p-{n}"))
    mailer = SmtpMailer(host="127.0.0.1", port=rig.sink.smtp_port, sender="billing@msp.example",
                        sender_name="Billing", timeout=5, connections=2)

    async def recipients(organization_id: str) -> list[str]:
        return ["ap@acme.example"]

    worker = CountingWorker(rig.uow, {"email": EmailChannel(mailer, recipients, None)}, FAST, lease_seconds=30,
                            lane_concurrency={"email": 12})
    worker.groups = []
    assert await worker.run_once() == 12
    rows = await rig.deliveries()
    assert [(r["status"], r["attempts"]) for r in rows] == [("delivered", 1)] * 12
    mails = await sink_messages(rig.http, rig.sink.http_url)
    assert len(mails) == 12 and {m["headers"]["Message-ID"] for m in mails} == {r["external_id"] for r in rows}
    assert mailer.connects <= 2, mailer.connects
    assert sum(worker.groups) == 12 and len(worker.groups) < 12, worker.groups
    assert (await rig.outbox_types()).count("notification.delivered") == 12
    await mailer.close()


class OneBadOutcome:
    """Sends every delivery but one, whose outcome cannot be stored (a NUL in its reason)."""

    def __init__(self, bad: str) -> None:
        self.bad = bad

    async def deliver(self, c):
        from billing_notifications.domain.delivery_policy import Problem
        if str(c.notification_id) == self.bad:
            return Problem("broken\x00reason")
        return Sent(f"sent-{c.delivery_id}")


async def test_an_outcome_that_cannot_be_recorded_loses_none_of_its_groups_others(rig):
    await email_only(rig)
    for n in range(6):
        await rig.notify(payment_succeeded(payment_id=f"p-{n}"))
    rows = await rig.deliveries()
    bad = str(rows[0]["notification_id"])
    worker = CountingWorker(rig.uow, {"email": OneBadOutcome(bad)}, FAST, lease_seconds=30,
                            lane_concurrency={"email": 6})
    worker.groups = []
    claimed = await worker.claim(6, "email")
    results = await asyncio.gather(*(worker.attempt(c, fresh=True) for c in claimed), return_exceptions=True)
    assert sum(isinstance(r, Exception) for r in results) == 1  # only the bad one's attempt could not record
    rows = {str(r["notification_id"]): r for r in await rig.deliveries()}
    assert rows[bad]["status"] == "pending" and rows[bad]["claim_token"] is not None  # its lease runs out: retried
    assert [r["status"] for k, r in rows.items() if k != bad] == ["delivered"] * 5
    assert (await rig.outbox_types()).count("notification.delivered") == 5


async def test_a_kept_smtp_connection_ends_with_the_outage_and_a_new_one_is_opened_after_it(rig):
    """The sink's "SMTP down" closed only its port: a connection kept open from before still delivered."""
    mailer = SmtpMailer(host="127.0.0.1", port=rig.sink.smtp_port, sender="billing@msp.example",
                        sender_name="Billing", timeout=5, connections=1)

    def mail(n: int) -> OutgoingEmail:
        return OutgoingEmail(f"n-{n}", ["ap@acme.example"], "Payment received", "Thank you", datetime.now(UTC))

    await mailer.send(mail(1))
    await rig.sink.smtp.stop()
    with pytest.raises(SendFailed) as refused:
        await mailer.send(mail(2))
    assert refused.value.problem.kind == "transient" and "unreachable" in refused.value.problem.reason
    await rig.sink.smtp.start()
    await mailer.send(mail(3))
    await mailer.send(mail(4))
    assert [m["headers"]["X-Billing-Notification-Id"] for m in await sink_messages(rig.http, rig.sink.http_url)] \
        == ["n-1", "n-3", "n-4"]
    assert mailer.connects == 2  # one before the outage, one after it, reused for the next message
    await mailer.close()


async def test_a_new_notification_wakes_the_listening_worker_at_once(rig):
    """The lanes looked for due deliveries every DELIVERY_POLL_SECONDS only: each email waited for the
    next look. A new notification's NOTIFY (at its commit) now wakes them."""
    await email_only(rig)
    worker = rig.worker(poll_seconds=30, listen=True)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.5)  # the lanes have looked once and nap; the worker listens
        await rig.notify(payment_succeeded())
        started = time.monotonic()

        async def delivered():
            rows = await rig.deliveries()
            return rows and rows[0]["status"] == "delivered"

        await eventually(delivered, timeout=5, interval=0.05)
        assert time.monotonic() - started < 3
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_worker_whose_listening_connection_was_lost_still_stops_when_cancelled(rig):
    """Found by chaos seed 3: a lane failed (Postgres restarting), the task group cancelled the listener,
    whose connection was lost; asking the lost connection anything on the way out raised an error that
    replaced the cancel and was caught as a listening failure. The listener went on for ever, so the
    worker never ended, its supervisor never restarted it, and no delivery was attempted again."""
    worker = rig.worker(poll_seconds=30, listen=True)
    listener = asyncio.create_task(worker._listen())
    try:
        async def listening_pid():
            async with rig.pool.acquire() as conn:
                return await conn.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE query LIKE 'LISTEN %notifications_deliveries%' LIMIT 1")

        pid = await eventually(listening_pid, timeout=5, interval=0.05)
        async with rig.pool.acquire() as conn:
            await conn.execute("SELECT pg_terminate_backend($1)", pid)
        await asyncio.sleep(0.3)  # the connection is lost while the listener naps
        listener.cancel()
        done, _ = await asyncio.wait({listener}, timeout=3)
        assert done, "the listener swallowed its cancel"
        assert listener.cancelled()
    finally:
        listener.cancel()
        await asyncio.wait({listener}, timeout=3)
