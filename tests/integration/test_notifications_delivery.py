"""The delivery worker against a real Postgres, the SMTP sink and the PSA simulator (in-process):
exactly one email and one ticket per notification through retries, outages and a crash between
"sent" and "recorded"; failures end `failed` with the reason and a `notification.failed` event."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import asyncpg
import pytest

from billing_shared.db import create_pool
from billing_shared.kafka.topics import TopicNames
from billing_shared.migrations import migrate
from billing_shared.outbox import UnitOfWork
from billing_shared.psa import AutotaskClient, RequestBudget, RetryPolicy as PsaRetry
from billing_notifications.adapters import delivery_store, directory_store, settings_store
from billing_notifications.adapters.psa_tickets import PsaTicketDesk
from billing_notifications.adapters.smtp_mailer import SmtpMailer
from billing_notifications.domain.catalog import ChannelSwitch
from billing_notifications.domain.delivery_policy import RetryPolicy
from billing_notifications.service import directory
from billing_notifications.service.channels import EmailChannel, TicketChannel
from billing_notifications.service.delivery import DeliveryWorker
from billing_notifications.service.intake import Intake
from billing_simulators.psa import RunningPsaSimulator, running_psa_simulator
from billing_simulators.smtp_sink import SinkHandle, start_sink
from tests.e2e.notifications_support import (
    contact_synced, organization_synced, payment_succeeded, psa_fault, psa_tickets, seed_psa_company, sim_json,
    sink_messages,
)
from tests.support import eventually

pytestmark = pytest.mark.timeout(60)

FAST = RetryPolicy(base_seconds=0.05, max_seconds=0.2, max_attempts=3, wait_seconds=30)


@dataclass
class Rig:
    pool: asyncpg.Pool
    uow: UnitOfWork
    sink: SinkHandle
    psa: RunningPsaSimulator
    http: aiohttp.ClientSession
    desk: PsaTicketDesk

    def worker(self, policy: RetryPolicy = FAST, lease_seconds: float = 30.0) -> DeliveryWorker:
        async def recipients(organization_id: str) -> list[str]:
            async with self.pool.acquire() as conn:
                return await directory_store.recipients(conn, organization_id)

        mailer = SmtpMailer(host="127.0.0.1", port=self.sink.smtp_port, sender="billing@msp.example",
                            sender_name="Billing", timeout=5)
        channels = {"email": EmailChannel(mailer, recipients, None), "ticket": TicketChannel(self.desk)}
        return DeliveryWorker(self.uow, channels, policy, lease_seconds=lease_seconds)

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
    await psa_fault(rig.http, rig.psa.url, count=100)
    rows = await drain(rig.worker(), rig)
    email, ticket = rows
    assert email["status"] == "delivered"
    assert (ticket["status"], ticket["attempts"]) == ("failed", 3)
    assert "500" in ticket["last_error"] and "gave up after 3 attempts" in ticket["last_error"]
    assert await psa_tickets(rig.http, rig.psa.url) == []
    assert sorted(await rig.outbox_types()) == ["notification.created", "notification.delivered",
                                                "notification.failed"]


async def test_an_smtp_outage_is_retried_and_the_email_goes_out_when_it_returns(rig):
    async with rig.pool.acquire() as conn:
        await settings_store.save_switches(conn, {"payment.succeeded": ChannelSwitch(email=True, ticket=False)})
    await rig.notify(payment_succeeded())
    await rig.sink.smtp.stop()
    slow = RetryPolicy(base_seconds=0.1, max_seconds=0.3, max_attempts=50, wait_seconds=30)
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
    patient = RetryPolicy(base_seconds=60, max_seconds=60, max_attempts=3, wait_seconds=600)
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
