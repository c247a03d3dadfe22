"""The operator CLI `billing-link` as a subprocess against the system as processes (sync, payments,
notifications, portal) with the PSA, accounting and gateway simulators: a sync followed to its end prints the
run's final counts, `status` shows every service healthy, a payment made here is found by `payments search`,
and the dead-letter commands show a parked message, a dry run changes nothing and a replay sends it back."""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from billing_shared.events.catalog import BILLING_PAYMENTS
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.topics import TopicNames, ensure_topics
from tests.e2e.conftest import ADMIN, MANAGER
from tests.e2e.sync_support import SyncApi, seed_customer, seed_invoice, simulators
from tests.e2e.test_sync_flow import ACTIVE_PAYMENTS, gateway, payments_call
from tests.support import eventually

pytestmark = pytest.mark.timeout(240)

CLI = Path(sys.executable).with_name("billing-link")


async def cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run `billing-link` without blocking the loop (the simulators answer on it)."""
    process = await asyncio.create_subprocess_exec(str(CLI), *args, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode, out.decode(), err.decode()


async def cli_json(env: dict[str, str], *args: str, expect: int = 0) -> Any:
    code, out, err = await cli(env, *args, "--json")
    assert code == expect, (args, code, out, err)
    return json.loads(out)


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
        return {tp.partition: offset for tp, offset in (await consumer.end_offsets(partitions)).items()}
    finally:
        await consumer.stop()


async def test_the_cli_follows_a_sync_reports_status_finds_a_payment_and_replays_a_dead_letter(
        infra, system, topic_prefix):
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all())
    system.env["IDENTITY_KEY"] = secrets.token_urlsafe(48)
    async with simulators() as sims, gateway(system):
        await asyncio.gather(*(system.start(name) for name in ("sync", "payments", "notifications")))
        system.env.update(SYNC_URL=system.urls["sync"], PAYMENTS_URL=system.urls["payments"],
                          NOTIFICATIONS_URL=system.urls["notifications"])
        await system.start("portal")
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "COLUMNS": "200",
               "SYNC_URL": system.urls["sync"], "PAYMENTS_URL": system.urls["payments"],
               "NOTIFICATIONS_URL": system.urls["notifications"], "PORTAL_URL": system.urls["portal"],
               "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap, "KAFKA_TOPIC_PREFIX": topic_prefix,
               "BILLING_LINK_TOKEN": ADMIN}
        api = SyncApi(system.urls["sync"], sims.http, ADMIN)
        await payments_call(sims.http, system.urls["payments"], "PUT", "/v1/settings/payment-processing",
                            ACTIVE_PAYMENTS, token=ADMIN)
        await seed_customer(sims)
        for external_id, total in ((701, "120.00"), (702, "80.00"), (703, "45.50")):
            await seed_invoice(sims, external_id, total)
        await api.setup(sims)

        # sync now --follow: the run's end and its final counts, as the API has them
        code, out, err = await cli(env, "sync", "now", "--follow")
        assert code == 0, (out, err)
        [verdict] = [line for line in out.splitlines() if line.startswith("sync run ")]
        run_id = verdict.split()[2]
        assert verdict == f"sync run {run_id} completed"
        run = await api.call("GET", f"/v1/sync/runs/{run_id}", expect=200)
        assert (run["entities"]["open_invoices"]["fetched"], run["entities"]["organizations"]["fetched"]) == (3, 1)
        for entity, progress in run["entities"].items():
            assert f"{entity}: {progress['fetched']} fetched of {progress['total']}" in out.splitlines()
        assert {"open_invoices: 3 fetched of 3", "organizations: 1 fetched of 1", "contacts: 1 fetched of 1"} \
            <= set(out.splitlines())

        # status --json: every service healthy, the consumer groups and their lag, no dead letters
        status = await cli_json(env, "status")
        assert {name: s["healthy"] for name, s in status["services"].items()} == {
            "sync": True, "payments": True, "notifications": True, "portal": True}
        assert status["kafka_error"] is None
        assert set(status["dead_letters"].values()) == {0}
        assert all(isinstance(status["services"][name]["outbox_backlog"], int)
                   for name in ("sync", "payments", "notifications")), status["services"]
        assert status["consumer_lag"] and all(lag >= 0 for topics in status["consumer_lag"].values()
                                              for lag in topics.values())

        # a payment made here is found by payments search, and shown
        async def paid() -> dict | None:
            answer = await sims.http.post(f"{system.urls['payments']}/v1/payments", json={
                "invoice_id": "autotask:702", "contact_id": "autotask:901",
                "payment_method": {"token": "tok_visa_approved"}},
                headers={"Authorization": f"Bearer {MANAGER}", "Idempotency-Key": str(uuid.uuid4())})
            return await answer.json() if answer.status == 201 else None  # the payer arrives through the directory
        payment = await eventually(paid, timeout=60, interval=0.5)
        assert payment["status"] == "succeeded"
        found = await cli_json(env, "payments", "search", "--organization", "autotask:678", "--status", "succeeded")
        assert [(p["payment_id"], p["sale_amount"]) for p in found["items"]] == [(payment["payment_id"], "80.00")]
        shown = await cli_json(env, "payments", "show", payment["payment_id"])
        assert shown["applications"] == [{"invoice_id": "autotask:702", "amount": "80.00"}]
        assert (await cli_json(env, "payments", "search", "--organization", "autotask:678", "--status",
                               "failed"))["items"] == []
        missing = await cli_json(env, "payments", "show", str(uuid.uuid4()), expect=1)
        assert missing["error"]["details"]["status"] == 404

        # a message no consumer can read is parked in billing.payments.v1.dlq by each group that takes the topic
        producer = make_producer(infra.kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(names(BILLING_PAYMENTS), b"{not json", key=b"autotask:678")
        finally:
            await producer.stop()

        # each group that takes the topic parks its own copy; wait for all of them, so the dry run is measured still
        lag = (await cli_json(env, "status"))["consumer_lag"]
        takers = {group for group, topics in lag.items() if BILLING_PAYMENTS in topics}
        assert {"sync-payment-writeback", "notifications-payments"} <= takers, takers

        async def parked() -> dict | None:
            listed = await cli_json(env, "dlq", "list", "--topic", BILLING_PAYMENTS)
            return listed if listed["counts"][BILLING_PAYMENTS] == len(takers) else None
        listed = await eventually(parked, timeout=30, interval=0.5)
        assert {d["consumer"] for d in listed["items"]} == takers
        letter = listed["items"][0]
        assert letter["topic"] == BILLING_PAYMENTS and "JSON" in letter["error"]
        status = await cli_json(env, "status")
        assert status["dead_letters"][BILLING_PAYMENTS] == len(takers)
        shown_letter = await cli_json(env, "dlq", "show", BILLING_PAYMENTS, str(letter["offset"]), "--partition",
                                      str(letter["partition"]))
        assert shown_letter["value"] == "{not json" and shown_letter["consumer"] == letter["consumer"]

        # the dry run names what it would send and sends nothing
        source_before = await end_offsets(infra.kafka_bootstrap, names(BILLING_PAYMENTS))
        dlq_before = await end_offsets(infra.kafka_bootstrap, names.dlq(BILLING_PAYMENTS))
        plan = await cli_json(env, "dlq", "replay", BILLING_PAYMENTS, "--all", "--dry-run")
        assert (plan["dry_run"], plan["replayed"]) == (True, 0)
        assert [(m["partition"], m["offset"]) for m in plan["messages"]] == \
               [(m["partition"], m["offset"]) for m in listed["items"]]
        await asyncio.sleep(1.0)
        assert await end_offsets(infra.kafka_bootstrap, names(BILLING_PAYMENTS)) == source_before
        assert await end_offsets(infra.kafka_bootstrap, names.dlq(BILLING_PAYMENTS)) == dlq_before

        # without --yes and without a terminal to ask at: bad usage, nothing sent
        await cli_json(env, "dlq", "replay", BILLING_PAYMENTS, "--offset", str(letter["offset"]), "--partition",
                       str(letter["partition"]), expect=2)
        assert await end_offsets(infra.kafka_bootstrap, names(BILLING_PAYMENTS)) == source_before

        # a replay sends the value back to the source topic with its key, saying where it came from
        replayed = await cli_json(env, "dlq", "replay", BILLING_PAYMENTS, "--offset", str(letter["offset"]),
                                  "--partition", str(letter["partition"]), "--yes")
        assert replayed["replayed"] == 1
        after = await end_offsets(infra.kafka_bootstrap, names(BILLING_PAYMENTS))
        assert sum(after.values()) == sum(source_before.values()) + 1
        [(partition, _)] = [(p, o) for p, o in after.items() if o != source_before[p]]
        record = await _record_at(infra.kafka_bootstrap, names(BILLING_PAYMENTS), partition, source_before[partition])
        assert (record.key, record.value) == (b"autotask:678", b"{not json")
        headers = dict(record.headers)
        assert headers["replayed_from"] == \
            f"{names.dlq(BILLING_PAYMENTS)}:{letter['partition']}:{letter['offset']}".encode()
        assert "error" not in headers and "source_offset" not in headers


async def test_the_demo_seeds_the_simulators_and_walks_a_payment_to_accounting_and_the_psa(infra, system,
                                                                                          topic_prefix):
    await ensure_topics(infra.kafka_bootstrap, TopicNames(topic_prefix).all())
    system.env.update(RECONCILIATION_POLL_SECONDS="0.3", RECONCILIATION_NIGHTLY_ENABLED="false")
    async with simulators() as sims, gateway(system):
        await asyncio.gather(system.start("sync"), system.start("payments"))
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
               "SYNC_URL": system.urls["sync"], "PAYMENTS_URL": system.urls["payments"],
               "PSA_SIM_URL": sims.psa.url, "ACCOUNTING_SIM_URL": sims.accounting_url,
               "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap, "KAFKA_TOPIC_PREFIX": topic_prefix,
               "BILLING_LINK_TOKEN": ADMIN}
        walked = await cli_json(env, "demo")
        assert walked["seeded"] is True and walked["sync_run"]["status"] == "completed"
        payment = walked["payment"]
        # the smallest of the demo's invoices of Acme Dental (deploy/devstack/demo.py), paid in full
        assert (payment["status"], payment["applications"]) == \
            ("succeeded", [{"invoice_id": "autotask:5003", "amount": "99.00"}])
        [booked] = [p for p in await sims.acct_call("GET", "/_sim/payments")
                    if p["PaymentRefNum"] == payment["transaction_id"]]
        assert (booked["Id"], booked["TotalAmt"]) == (walked["written_back"]["accounting_payment_id"], 99.0)
        assert (await sims.psa_call("GET", "/_sim/invoices/5003"))["paidDate"]
        companies = {c["id"] for c in await sims.psa_call("GET", "/_sim/companies")}
        assert {678, 679, 680} <= companies

        # a second demo keeps the world (seeded once) and pays the next smallest invoice of Acme Dental
        again = await cli_json(env, "demo")
        assert again["seeded"] is False
        assert again["payment"]["applications"] == [{"invoice_id": "autotask:5002", "amount": "480.00"}]

        # reconcile --follow: today's report, clean (exit 0); once the books lose a payment, a drift (exit 1)
        today = datetime.now(UTC).date().isoformat()
        clean = await cli_json(env, "reconcile", "--from", today, "--to", today, "--follow")
        assert (clean["run"]["status"], clean["run"]["books"]["state"], clean["drifts"]) == ("completed", "checked", [])
        await sims.acct_call("POST", f"/_sim/payments/{booked['Id']}/delete")
        drifted = await cli_json(env, "reconcile", "--from", today, "--to", today, "--follow", expect=1)
        assert [(d["payment_id"], d["state"]) for d in drifted["drifts"]] == [(payment["payment_id"], "open")]


async def _record_at(bootstrap: str, topic: str, partition: int, offset: int):  # type: ignore[no-untyped-def]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        return await asyncio.wait_for(consumer.getone(tp), 10)
    finally:
        await consumer.stop()
