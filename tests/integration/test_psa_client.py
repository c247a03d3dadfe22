"""AutotaskClient against the in-process PSA simulator: zones, retries, the
request budget, errors and secrets. RequestBudget also on a fake clock."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import structlog

from billing_shared.psa import (
    CHANGE_FIELDS, AutotaskClient, F, PsaAuthError, PsaBudgetExhausted, PsaError, PsaUnavailable,
    RequestBudget, RetryPolicy, changed_since, format_time,
)
from billing_simulators.psa import PsaSimConfig, RunningPsaSimulator, running_psa_simulator

pytestmark = pytest.mark.timeout(30)

USER, SECRET, CODE = "api@msp.example", "sim-secret", "SIMINTEGRATIONCODE000000000000"
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)


def fast_budget(**overrides: Any) -> RequestBudget:
    return RequestBudget(**{"min_backoff": 0.001, "max_backoff": 0.002, **overrides})


@pytest.fixture
async def sim():
    async with running_psa_simulator() as running:
        yield running


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as http:
        yield http


def make_client(session, sim: RunningPsaSimulator, **overrides: Any) -> AutotaskClient:
    options: dict[str, Any] = dict(username=USER, secret=SECRET, integration_code=CODE,
                                   base_url=sim.zone_lookup_base, retry=FAST_RETRY,
                                   budget=fast_budget())
    options.update(overrides)
    return AutotaskClient(session, **options)


@pytest.fixture
def client(session, sim) -> AutotaskClient:
    return make_client(session, sim)


async def sim_call(session, sim, method: str, path: str, body: Any = None) -> Any:
    async with session.request(method, sim.url + path, json=body) as response:
        assert response.status < 300, await response.text()
        return await response.json()


async def requests_seen(session, sim) -> dict[str, Any]:
    return await sim_call(session, sim, "GET", "/_sim/requests")


@pytest.fixture
async def invoices(session, sim) -> None:
    await sim_call(session, sim, "POST", "/_sim/bulk", {
        "companies": [{"id": 678, "companyName": "Acme Dental"}],
        "invoices": [{"companyID": 678, "invoiceTotal": 100.0 + i} for i in range(30)]})


# -- zone discovery ----------------------------------------------------------

async def test_zone_is_discovered_once_and_cached(session, sim, client, invoices):
    zone = await client.zone()
    assert (zone.name, zone.url, zone.api_base) == (
        "Simulated Zone", f"{sim.url}/ATServicesRest/", f"{sim.url}/ATServicesRest/V1.0/")
    fresh = make_client(session, sim)
    counts = await asyncio.gather(*(fresh.count("Invoices") for _ in range(10)))
    assert counts == [30] * 10
    assert await client.count("Invoices") == 30
    assert (await requests_seen(session, sim))["zone_lookups"] == 2  # one per client


async def test_a_401_refetches_the_zone_and_retries_once(session, sim, client, invoices):
    await client.zone()
    await sim_call(session, sim, "POST", "/_sim/faults",
                   {"entity": "Invoices", "status": 401, "message": "Zone moved?", "count": 1})
    assert await client.count("Invoices") == 30
    seen = await requests_seen(session, sim)
    assert seen["zone_lookups"] == 2 and seen["by_entity"]["Invoices"] == {"POST count": 2}


async def test_a_tenant_that_moved_zones_is_followed(session):
    async with running_psa_simulator() as old_zone, running_psa_simulator() as new_zone:
        await sim_call(session, new_zone, "POST", "/_sim/companies", {"id": 5, "companyName": "Moved Co"})
        client = make_client(session, old_zone)
        assert await client.get("Companies", 5) is None  # served by the old zone: not there
        # The tenant moves: the lookup now names the new zone, the old one refuses it.
        await sim_call(session, old_zone, "POST", "/_sim/config", {"zone_url": new_zone.url})
        await sim_call(session, old_zone, "POST", "/_sim/faults", {"status": 401, "count": 100})
        assert (await client.get("Companies", 5))["companyName"] == "Moved Co"
        assert (await client.zone()).url == f"{new_zone.url}/ATServicesRest/"
        assert (await requests_seen(session, old_zone))["zone_lookups"] == 2
        assert (await requests_seen(session, new_zone))["by_entity"] == {"Companies": {"GET": 1}}


async def test_concurrent_401s_refresh_the_zone_once(session, sim, client, invoices):
    await client.zone()
    # The first three calls (the thread cap) meet a 401 each; one lookup serves them all.
    await sim_call(session, sim, "POST", "/_sim/faults", {"status": 401, "count": 3})
    assert await asyncio.gather(*(client.count("Invoices") for _ in range(5))) == [30] * 5
    assert (await requests_seen(session, sim))["zone_lookups"] == 2


# -- retries -----------------------------------------------------------------

async def test_idempotent_calls_retry_5xx_then_succeed(session, sim, client, invoices):
    await sim_call(session, sim, "POST", "/_sim/faults",
                   {"entity": "Invoices", "method": "POST", "status": 503, "count": 2})
    rows = [row async for row in client.query("Invoices", [F.gt("id", 0)], page_size=20)]
    assert len(rows) == 30
    await sim_call(session, sim, "POST", "/_sim/faults",
                   {"entity": "Invoices", "method": "PATCH", "status": 500, "count": 1})
    await client.update("Invoices", rows[0]["id"], {"invoiceNumber": "1042"})
    shown = await sim_call(session, sim, "GET", f"/_sim/invoices/{rows[0]['id']}")
    assert shown["invoiceNumber"] == "1042"
    seen = (await requests_seen(session, sim))["by_entity"]["Invoices"]
    assert seen == {"POST query": 4, "PATCH": 2}  # 2 failed + 2 pages; 1 failed + 1


async def test_retries_give_up_after_the_policy_attempts(session, sim, client, invoices):
    await sim_call(session, sim, "POST", "/_sim/faults",
                   {"entity": "Invoices", "status": 502, "message": "Bad gateway", "count": 10})
    with pytest.raises(PsaUnavailable) as caught:
        await client.get("Invoices", 5_000_000)
    assert caught.value.status == 502 and caught.value.messages == ["Bad gateway"]
    assert (await requests_seen(session, sim))["by_entity"]["Invoices"] == {"GET": 3}


async def test_a_create_is_never_retried(session, sim, client, invoices):
    await sim_call(session, sim, "POST", "/_sim/faults",
                   {"entity": "Tickets", "method": "POST", "status": 503, "count": 1})
    with pytest.raises(PsaUnavailable):
        await client.create("Tickets", {"companyID": 678, "title": "t", "status": 1, "priority": 2})
    assert (await requests_seen(session, sim))["by_entity"]["Tickets"] == {"POST": 1}
    assert await sim_call(session, sim, "GET", "/_sim/tickets") == []


async def test_connection_refused_is_unavailable(session):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = AutotaskClient(session, username=USER, secret=SECRET, integration_code=CODE,
                            base_url=f"http://127.0.0.1:{port}/atservicesrest/", retry=FAST_RETRY)
    with pytest.raises(PsaUnavailable, match="zone lookup failed"):
        await client.count("Invoices")


# -- the request budget against the simulator --------------------------------

async def test_budget_keeps_20_parallel_queries_to_3_per_endpoint(session, sim, client, invoices):
    await sim_call(session, sim, "POST", "/_sim/config", {"latency_ms": 30})

    async def query_all() -> int:
        return len([row async for row in client.query("Invoices", [F.gt("id", 0)])])

    assert await asyncio.gather(*(query_all() for _ in range(20))) == [30] * 20
    seen = await requests_seen(session, sim)
    assert seen["by_entity"]["Invoices"] == {"POST query": 20}
    assert seen["max_concurrent"]["Invoices"] == 3 and seen["over_thread_limit"] == 0


async def test_without_the_thread_cap_the_simulator_sees_the_overload(session, sim, invoices):
    # The control for the test above: proves the simulator does measure concurrency.
    client = make_client(session, sim, budget=fast_budget(max_concurrent=20))
    await sim_call(session, sim, "POST", "/_sim/config", {"latency_ms": 30, "over_thread_latency_ms": 0})
    await asyncio.gather(*(client.count("Invoices") for _ in range(20)))
    seen = await requests_seen(session, sim)
    assert seen["max_concurrent"]["Invoices"] > 3 and seen["over_thread_limit"] > 0


async def test_separate_entities_have_separate_slots(session, sim, client, invoices):
    await sim_call(session, sim, "POST", "/_sim/config", {"latency_ms": 30})
    await asyncio.gather(*(client.count(entity) for entity in ("Invoices", "Companies") for _ in range(6)))
    assert (await requests_seen(session, sim))["max_concurrent"] == {"Invoices": 3, "Companies": 3}


async def test_threshold_information_feeds_the_budget(session, sim, invoices):
    budget = fast_budget()
    client = make_client(session, sim, budget=budget)
    other = make_client(session, sim)  # another integration on the same database
    for _ in range(7):
        await other.count("Invoices")
    info = await client.threshold_information()
    assert info.current_timeframe_request_count == 8 and info.external_request_threshold == 10_000
    assert budget.used == 8


async def test_budget_refuses_locally_once_the_reserve_is_reached(session, sim, invoices):
    client = make_client(session, sim, budget=fast_budget(hourly_limit=10, reserve=7,
                                                          max_pacing_delay=0.001))
    for _ in range(3):
        await client.count("Invoices")
    with pytest.raises(PsaBudgetExhausted) as caught:
        await client.count("Invoices")
    assert 3590 < caught.value.retry_after <= 3600
    assert (await requests_seen(session, sim))["total"] == 3  # nothing sent past the cap


# -- headers, secrets --------------------------------------------------------

async def test_impersonation_is_sent_on_writes_only(session, sim, invoices):
    client = make_client(session, sim, impersonation_resource_id=29683001)
    ticket_id = await client.create("Tickets", {"companyID": 678, "title": "t", "status": 1, "priority": 2})
    assert (await client.get("Tickets", ticket_id))["creatorResourceID"] == 29683001


async def test_the_secret_never_reaches_logs_reprs_or_errors(session, sim, invoices):
    secret = "sim-secret"
    client = make_client(session, sim)
    await sim_call(session, sim, "POST", "/_sim/faults", {
        "entity": "Invoices", "status": 500, "count": 3,
        "message": f"Secret {secret} was echoed back by a broken proxy"})
    with structlog.testing.capture_logs() as logs:
        with pytest.raises(PsaUnavailable) as caught:
            await client.count("Invoices")
        await client.count("Invoices")
    assert caught.value.messages == ["Secret **** was echoed back by a broken proxy"]
    assert [e["event"] for e in logs].count("psa_retry") == 2
    for text in (str(caught.value), repr(caught.value), repr(client), repr(client._transport),
                 repr(client.budget), *map(repr, logs)):
        assert secret not in text


# -- filter helpers and change fields -----------------------------------------

def test_filter_builder_writes_autotask_items():
    moment = datetime(2026, 11, 27, 10, 15, 30, 123456, tzinfo=UTC)
    assert F.gt("lastActivityDate", moment) == {
        "op": "gt", "field": "lastActivityDate", "value": "2026-11-27T10:15:30.123Z"}
    assert F.or_(F.eq("status", 1), F.in_("id", (1, 2))) == {"op": "or", "items": [
        {"op": "eq", "field": "status", "value": 1}, {"op": "in", "field": "id", "value": [1, 2]}]}
    assert F.udf_eq("Quote URL", "x") == {"op": "eq", "field": "Quote URL", "value": "x", "udf": True}
    assert F.not_exist("invoiceNumber") == {"op": "notExist", "field": "invoiceNumber"}
    assert format_time(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000Z"


def test_change_fields_per_entity():
    assert dict(CHANGE_FIELDS) == {
        "Companies": "lastActivityDate", "Contacts": "lastModifiedDate",
        "Tickets": "lastActivityDate", "Opportunities": "lastActivity",
        "Contracts": "lastModifiedDateTime", "Invoices": None}
    with pytest.raises(ValueError, match="id watermark"):
        changed_since("Invoices", datetime.now(UTC))


async def test_changed_since_finds_only_rows_changed_later(session, sim, client):
    for entity, path, fields in [
            ("Companies", "companies", {"companyName": "Acme"}),
            ("Contacts", "contacts", {"companyID": 1000, "firstName": "A", "lastName": "B"}),
            ("Contracts", "contracts", {"companyID": 1000, "contractName": "MSA"}),
            ("Opportunities", "opportunities", {"companyID": 1000, "title": "Firewall"}),
            ("Tickets", "tickets", {"companyID": 1000, "title": "t", "status": 1, "priority": 2})]:
        first = await sim_call(session, sim, "POST", f"/_sim/{path}", fields)
        second = await sim_call(session, sim, "POST", f"/_sim/{path}", fields)
        since = datetime.fromisoformat(max(first[CHANGE_FIELDS[entity]],
                                           second[CHANGE_FIELDS[entity]])) + timedelta(milliseconds=1)
        await asyncio.sleep(0.003)
        await sim_call(session, sim, "PATCH", f"/_sim/{path}/{second['id']}", {"userDefinedFields": []})
        changed = [row async for row in client.query(entity, [changed_since(entity, since)])]
        assert [row["id"] for row in changed] == [second["id"]], entity


async def test_page_size_is_checked_before_any_call(client):
    with pytest.raises(ValueError):
        [row async for row in client.query("Invoices", [], page_size=501)]


# -- RequestBudget on a fake clock -------------------------------------------

class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def fake_budget(time: FakeTime, **overrides: Any) -> RequestBudget:
    options = dict(hourly_limit=100, reserve=10, slow_down_from=0.5, max_pacing_delay=4.0,
                   clock=time.clock, sleep=time.sleep)
    options.update(overrides)
    return RequestBudget(**options)


async def test_budget_paces_harder_as_the_hour_fills_then_refuses():
    time = FakeTime()
    budget = fake_budget(time)
    for _ in range(50):
        await budget.admit()
    assert time.slept == []  # up to half the limit: no pacing
    for _ in range(40):
        await budget.admit()
    # Pacing rises linearly from half the limit (50) to the cap (limit - reserve = 90).
    assert len(time.slept) == 39
    assert time.slept[0] == pytest.approx(4.0 * 1 / 40) and time.slept[-1] == pytest.approx(4.0 * 39 / 40)
    assert time.slept == sorted(time.slept)
    assert budget.used == 90
    with pytest.raises(PsaBudgetExhausted) as caught:
        await budget.admit()
    assert caught.value.retry_after == pytest.approx(3600 - time.now)


async def test_budget_window_rolls_over_the_hour():
    time = FakeTime()
    budget = fake_budget(time, hourly_limit=10, reserve=0, slow_down_from=1.0)
    for _ in range(10):
        await budget.admit()
    with pytest.raises(PsaBudgetExhausted):
        await budget.admit()
    time.now += 3600.5
    await budget.admit()
    assert budget.used == 1


async def test_budget_backs_off_while_responses_are_slow_or_failing():
    time = FakeTime()
    budget = fake_budget(time, min_backoff=0.5, max_backoff=4.0, slow_response=2.0)
    budget.observe(0.1)
    assert budget.backoff == 0
    budget.observe(2.5)  # slow: the API adds latency near its limit
    budget.observe(0.1, failed=True)
    budget.observe(0.1, failed=True)
    budget.observe(0.1, failed=True)
    assert budget.backoff == 4.0  # 0.5, 1, 2, 4 (capped)
    await budget.admit()
    assert time.slept == [4.0]
    for expected in (2.0, 1.0, 0.5, 0.0):
        budget.observe(0.1)
        assert budget.backoff == expected


async def test_budget_caps_concurrency_per_entity():
    budget = RequestBudget(max_concurrent=3)
    running: dict[str, int] = {"Invoices": 0, "Tickets": 0}
    peak: dict[str, int] = {"Invoices": 0, "Tickets": 0}

    async def one(entity: str) -> None:
        async with budget.slot(entity):
            running[entity] += 1
            peak[entity] = max(peak[entity], running[entity])
            await asyncio.sleep(0.005)
            running[entity] -= 1

    await asyncio.gather(*(one(e) for e in ("Invoices", "Tickets") for _ in range(10)))
    assert peak == {"Invoices": 3, "Tickets": 3} and budget.used == 20


def test_budget_adopts_a_higher_server_count():
    time = FakeTime()
    budget = fake_budget(time)
    budget.absorb_server_count(42)
    assert budget.used == 42
    budget.absorb_server_count(10)  # lower than ours: ours stands
    assert budget.used == 42
    assert "42/100" in repr(budget)


def test_sim_config_defaults_match_the_contract():
    config = PsaSimConfig()
    assert (config.username, config.secret, config.integration_code) == (USER, SECRET, CODE)
    assert (config.public_base_url, config.page_size_max, config.hourly_limit, config.thread_limit,
            config.latency_ms) == ("http://localhost:9101", 500, 10_000, 3, 0)
    assert SECRET not in repr(config)


# -- picklists ---------------------------------------------------------------

async def test_picklist_reads_ticket_choices_from_entity_information(session, sim, client):
    queues = await client.picklist("Tickets", "queueID")
    every_queue = await client.picklist("Tickets", "QueueID", include_inactive=True)
    priorities = await client.picklist("Tickets", "priority")

    assert (8, "Level I Support") in [(q.value, q.label) for q in queues]
    portal = next(q for q in queues if q.label == "Client Portal")
    assert (portal.value, portal.is_default, portal.is_active) == (29682833, True, True)
    assert [q.sort_order for q in queues] == sorted(q.sort_order for q in queues)
    assert len(every_queue) == len(queues) + 1 and not every_queue[-1].is_active
    assert {p.value: p.label for p in priorities} == {1: "High", 2: "Medium", 3: "Low", 4: "Critical"}
    subissue = next(s for s in await client.picklist("Tickets", "subIssueType") if s.value == 13)
    assert subissue.parent_value == 3
    with pytest.raises(PsaError, match="not a picklist"):
        await client.picklist("Tickets", "title")
    with pytest.raises(PsaError, match="has no field"):
        await client.picklist("Tickets", "nope")
    # A queue read from the picklist is one a ticket create accepts.
    await sim_call(session, sim, "POST", "/_sim/companies", {"id": 500, "companyName": "Acme"})
    ticket_id = await client.create("Tickets", {"companyID": 500, "title": "t", "status": 1,
                                                "priority": priorities[0].value,
                                                "queueID": portal.value})
    assert (await client.get("Tickets", ticket_id))["queueID"] == 29682833
