"""The consumer runner against a real broker and database: DLQ, dedupe, a failing handler."""
from __future__ import annotations

import asyncio
import json
from datetime import date

import pytest
from aiokafka import AIOKafkaProducer

from billing_shared.db import create_pool
from billing_shared.events.catalog import UPSTREAM_INVOICES
from billing_shared.events.upstream import InvoiceUpserted, InvoiceUpsertedData, UpstreamOrganization
from billing_shared.kafka.clients import make_producer
from billing_shared.kafka.runner import Batched, ConsumerRunner
from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_shared.migrations import migrate
from billing_shared.money import money
from billing_shared.outbox import UnitOfWork
from tests.support import eventually, read_topic

pytestmark = pytest.mark.timeout(90)


def upserted(external_id: str, total: str = "500.00", version: int = 1) -> InvoiceUpserted:
    return InvoiceUpserted.new(
        producer="test", organization_id="autotask:678",
        data=InvoiceUpsertedData(
            source="autotask", external_id=external_id, version=version,
            organization=UpstreamOrganization(external_id="678", name="Acme Dental"),
            invoice_number="1042", issued_on=date(2026, 11, 1), due_on=date(2026, 12, 1),
            currency="USD", total=money(total),
        ),
    )


@pytest.fixture
async def harness(infra, database_url, topic_prefix):
    names = TopicNames(topic_prefix)
    await ensure_topics(infra.kafka_bootstrap, names.all(), partitions=2)
    pool = await create_pool(database_url, "plumbing")
    await migrate(pool, "plumbing", None)
    await pool.execute("CREATE TABLE effects (event_id uuid, external_id text, total numeric)")
    producer = make_producer(infra.kafka_bootstrap)
    await producer.start()
    yield names, pool, producer, UnitOfWork(pool, names)
    await producer.stop()
    await pool.close()


def start_runner(infra, names, producer, uow, handlers, **options):
    runner = ConsumerRunner(
        name="plumbing-test", topics=[UPSTREAM_INVOICES], handlers=handlers, uow=uow, producer=producer,
        bootstrap_servers=infra.kafka_bootstrap, topic_names=names, **options,
    )
    return asyncio.create_task(runner.run())


async def record_effect(tx, event):
    await tx.conn.execute("INSERT INTO effects VALUES ($1, $2, $3)", event.event_id, event.data.external_id,
                          event.data.total)


async def test_malformed_messages_go_to_the_dlq_unchanged_and_the_partition_moves_on(infra, harness):
    names, pool, producer, uow = harness
    topic = names(UPSTREAM_INVOICES)
    not_json = b"{this is not json"
    too_precise = upserted("1").model_dump(mode="json")
    too_precise["data"]["total"] = "12.3456"
    invalid = json.dumps(too_precise).encode()
    float_money = upserted("2").model_dump(mode="json")
    float_money["data"]["total"] = 500.1
    for value in (not_json, invalid, json.dumps(float_money).encode()):
        await producer.send_and_wait(topic, value, key=b"autotask:678", partition=0)
    good = upserted("3")
    await producer.send_and_wait(topic, good.to_json(), key=b"autotask:678", partition=0)

    task = start_runner(infra, names, producer, uow, {"invoice.upserted": record_effect})
    try:
        rows = await eventually(lambda: pool.fetch("SELECT * FROM effects"))
        assert [(r["external_id"], str(r["total"])) for r in rows] == [("3", "500.00")]
        dead = await read_topic(infra.kafka_bootstrap, names.dlq(UPSTREAM_INVOICES), count=3)
    finally:
        task.cancel()
    assert [d.value for d in dead] == [not_json, invalid, json.dumps(float_money).encode()]
    headers = [dict(d.headers) for d in dead]
    assert [h["source_offset"] for h in headers] == [b"0", b"1", b"2"]
    assert all(h["error"] for h in headers)
    assert b"total" in headers[1]["error"] and b"float" in headers[2]["error"]


async def test_an_event_delivered_twice_has_one_effect(infra, harness):
    names, pool, producer, uow = harness
    topic = names(UPSTREAM_INVOICES)
    event = upserted("7")
    for _ in range(3):  # twice in one poll's batch, and once more later
        await producer.send_and_wait(topic, event.to_json(), key=b"autotask:678")
    task = start_runner(infra, names, producer, uow, {"invoice.upserted": record_effect})
    try:
        await eventually(lambda: pool.fetchval("SELECT count(*) FROM effects"))
        await producer.send_and_wait(topic, event.to_json(), key=b"autotask:678")
        marker = upserted("8")
        await producer.send_and_wait(topic, marker.to_json(), key=b"autotask:678")
        await eventually(lambda: pool.fetchval("SELECT count(*) FROM effects WHERE external_id = '8'"))
    finally:
        task.cancel()
    assert await pool.fetchval("SELECT count(*) FROM effects WHERE event_id = $1", event.event_id) == 1


async def test_a_handler_that_keeps_failing_parks_its_event_and_the_rest_are_handled(infra, harness):
    names, pool, producer, uow = harness
    topic = names(UPSTREAM_INVOICES)

    async def fussy(tx, events):
        for event in events:
            if event.data.external_id == "poison":
                raise RuntimeError("cannot handle this one")
            await record_effect(tx, event)

    events = [upserted("a"), upserted("poison"), upserted("b")]
    for e in events:
        await producer.send_and_wait(topic, e.to_json(), key=b"autotask:678", partition=1)
    task = start_runner(infra, names, producer, uow, {"invoice.upserted": Batched(fussy)})
    try:
        await eventually(lambda: pool.fetchval("SELECT count(*) FROM effects WHERE external_id = 'b'"))
        dead = await read_topic(infra.kafka_bootstrap, names.dlq(UPSTREAM_INVOICES), count=1)
    finally:
        task.cancel()
    rows = await pool.fetch("SELECT external_id FROM effects ORDER BY external_id")
    assert [r["external_id"] for r in rows] == ["a", "b"]
    assert json.loads(dead[0].value)["event_id"] == str(events[1].event_id)
    assert b"cannot handle this one" in dict(dead[0].headers)["error"]
    # the poisoned event is not in the inbox: a fixed handler could still take it from the DLQ
    assert not await pool.fetchval("SELECT count(*) FROM inbox WHERE event_id = $1", events[1].event_id)


@pytest.mark.parametrize("amount", ["1e30", "NaN", "-Infinity", "1E+2", "1000000000000.00", "0.001"])
async def test_an_amount_decimal_cannot_take_goes_to_the_dlq_and_the_partition_moves_on(infra, harness, amount):
    names, pool, producer, uow = harness
    topic = names(UPSTREAM_INVOICES)
    bad = upserted("huge").model_dump(mode="json")
    bad["data"]["total"] = amount
    raw = json.dumps(bad).encode()
    await producer.send_and_wait(topic, raw, key=b"autotask:678", partition=0)
    await producer.send_and_wait(topic, upserted("after").to_json(), key=b"autotask:678", partition=0)
    task = start_runner(infra, names, producer, uow, {"invoice.upserted": record_effect})
    try:
        rows = await eventually(lambda: pool.fetch("SELECT external_id FROM effects"))
        dead = await read_topic(infra.kafka_bootstrap, names.dlq(UPSTREAM_INVOICES), count=1)
    finally:
        task.cancel()
    assert [r["external_id"] for r in rows] == ["after"]
    assert dead[0].value == raw
    error = dict(dead[0].headers)["error"]
    assert b"total" in error and b"InvalidOperation" not in error


async def test_a_handler_that_keeps_raising_a_transient_error_while_the_database_answers_is_parked(infra, harness):
    names, pool, producer, uow = harness
    topic = names(UPSTREAM_INVOICES)

    async def unlucky(tx, event):
        if event.data.external_id == "stuck":
            raise ConnectionRefusedError("the handler's own peer is gone")  # an OSError: transient
        await record_effect(tx, event)

    stuck = upserted("stuck")
    for e in (stuck, upserted("next")):
        await producer.send_and_wait(topic, e.to_json(), key=b"autotask:678", partition=0)
    task = start_runner(infra, names, producer, uow, {"invoice.upserted": unlucky}, transient_attempts=3)
    try:
        await eventually(lambda: pool.fetchval("SELECT count(*) FROM effects WHERE external_id = 'next'"),
                         timeout=40)
        dead = await read_topic(infra.kafka_bootstrap, names.dlq(UPSTREAM_INVOICES), count=1)
    finally:
        task.cancel()
    assert json.loads(dead[0].value)["event_id"] == str(stuck.event_id)
    assert b"the handler's own peer is gone" in dict(dead[0].headers)["error"]


async def test_a_message_over_the_producers_size_limit_is_parked_and_the_partition_moves_on(infra, harness):
    """Found by tests/fuzz/test_topic_fuzz.py: a 1.1 MB value a producer sent gzip-compressed (the broker limits
    the compressed batch) could not be re-sent uncompressed to the DLQ, and the partition stopped for good."""
    names, pool, producer, uow = harness
    topic = names(UPSTREAM_INVOICES)
    big = upserted("big").model_dump(mode="json")
    big["data"]["organization"]["name"] = "x" * 1_100_000
    raw = json.dumps(big).encode()
    big["data"]["organization"]["name"] = {"deep": "x" * 1_100_000}  # invalid as well as large
    invalid = json.dumps(big).encode()
    sender = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, compression_type="gzip",
                              max_request_size=4 * 1024 * 1024)
    await sender.start()
    try:
        for value in (invalid, raw):
            await sender.send_and_wait(topic, value, key=b"autotask:678", partition=0)
    finally:
        await sender.stop()
    await producer.send_and_wait(topic, upserted("after").to_json(), key=b"autotask:678", partition=0)

    async def refuse_big(tx, event):
        if event.data.external_id == "big":
            raise ValueError("no room for a name this long")
        await record_effect(tx, event)

    task = start_runner(infra, names, producer, uow, {"invoice.upserted": refuse_big})
    try:
        await eventually(lambda: pool.fetchval("SELECT count(*) FROM effects WHERE external_id = 'after'"),
                         timeout=40)
        dead = await read_topic(infra.kafka_bootstrap, names.dlq(UPSTREAM_INVOICES), count=2)
    finally:
        task.cancel()
    assert [d.value for d in dead] == [invalid, raw]  # unchanged
    assert [dict(d.headers)["source_offset"] for d in dead] == [b"0", b"1"]
    assert b"no room for a name this long" in dict(dead[1].headers)["error"]
