"""The Autotask PSA simulator, driven through the project's own AutotaskClient
(and raw HTTP where the wire itself is the point)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest

from billing_shared.psa import (
    AutotaskClient, F, PsaAuthError, PsaError, PsaNotFound, PsaPermissionError,
    PsaRateLimited, PsaUnavailable, RequestBudget, RetryPolicy,
)
from billing_simulators.psa import PsaSimConfig, RunningPsaSimulator, running_psa_simulator

pytestmark = pytest.mark.timeout(30)

USER = "api@msp.example"
SECRET = "sim-secret"
CODE = "SIMINTEGRATIONCODE000000000000"
AUTH = {"ApiIntegrationCode": CODE, "UserName": USER, "Secret": SECRET}
FAST_RETRY = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.002)


@pytest.fixture
async def sim():
    async with running_psa_simulator() as running:
        yield running


@pytest.fixture
async def session():
    async with aiohttp.ClientSession() as http:
        yield http


def make_client(session: aiohttp.ClientSession, sim: RunningPsaSimulator,
                **overrides: Any) -> AutotaskClient:
    options: dict[str, Any] = dict(username=USER, secret=SECRET, integration_code=CODE,
                                   base_url=sim.zone_lookup_base, retry=FAST_RETRY,
                                   budget=RequestBudget(min_backoff=0.001, max_backoff=0.002))
    options.update(overrides)
    return AutotaskClient(session, **options)


@pytest.fixture
def client(session, sim) -> AutotaskClient:
    return make_client(session, sim)


async def sim_call(session: aiohttp.ClientSession, sim: RunningPsaSimulator, method: str,
                   path: str, body: Any = None, expect: int | None = None) -> Any:
    async with session.request(method, sim.url + path, json=body) as response:
        if expect is not None:
            assert response.status == expect, await response.text()
        return await response.json()


async def requests_seen(session, sim) -> dict[str, Any]:
    return await sim_call(session, sim, "GET", "/_sim/requests")


async def seed(session, sim, **collections: list[dict[str, Any]]) -> None:
    await sim_call(session, sim, "POST", "/_sim/bulk", collections, expect=201)


async def collect(client: AutotaskClient, entity: str, filters, **kwargs) -> list[dict]:
    return [row async for row in client.query(entity, filters, **kwargs)]


# -- zone and authentication -------------------------------------------------

@pytest.mark.parametrize("path", ["/atservicesrest/v1.0/zoneInformation",
                                  "/ATServicesRest/V1.0/ZoneInformation"])
@pytest.mark.parametrize("headers", [{}, AUTH])
async def test_zone_information_answers_with_or_without_auth_headers(session, sim, path, headers):
    async with session.get(f"{sim.url}{path}?user={USER}", headers=headers) as response:
        assert response.status == 200
        zone = await response.json()
    assert zone == {"zoneName": "Simulated Zone", "url": f"{sim.url}/ATServicesRest/",
                    "webUrl": f"{sim.url}/", "ci": 0}


async def test_zone_lookup_for_unknown_user_is_a_500_with_errors(session, sim):
    async with session.get(f"{sim.url}/atservicesrest/v1.0/zoneInformation?user=who@else") as r:
        assert r.status == 500
        assert (await r.json())["errors"] == ["Zone information could not be determined for the user."]


async def test_client_for_unknown_user_gets_an_auth_error(session, sim):
    client = make_client(session, sim, username="nobody@msp.example")
    with pytest.raises(PsaAuthError) as caught:
        await client.count("Invoices")
    assert caught.value.status == 500
    assert (await requests_seen(session, sim))["total"] == 0


async def test_wrong_secret_is_401_with_an_errors_body(session, sim):
    headers = {**AUTH, "secret": "not-it"}  # header names are case-insensitive
    async with session.post(f"{sim.url}/ATServicesRest/V1.0/Invoices/query", headers=headers,
                            json={"filter": [{"op": "gt", "field": "id", "value": 0}]}) as r:
        assert r.status == 401
        body = await r.json()
    assert len(body["errors"]) == 1 and "Secret" in body["errors"][0]
    seen = await requests_seen(session, sim)
    assert seen["rejected_auth"] == 1 and seen["total"] == 0


async def test_lowercase_header_names_and_paths_are_accepted(session, sim):
    headers = {"apiintegrationcode": CODE, "username": USER, "secret": SECRET}
    async with session.post(f"{sim.url}/atservicesrest/v1.0/invoices/query/count", headers=headers,
                            json={"Filter": [{"op": "gt", "field": "id", "value": 0}]}) as r:
        assert r.status == 200
        assert await r.json() == {"queryCount": 0}


async def test_client_with_wrong_secret_refetches_zone_retries_once_then_raises(session, sim):
    client = make_client(session, sim, secret="wrong-secret-value")
    with pytest.raises(PsaAuthError) as caught:
        await client.count("Invoices")
    assert caught.value.status == 401
    assert "wrong-secret-value" not in str(caught.value)
    assert "wrong-secret-value" not in repr(client)
    seen = await requests_seen(session, sim)
    assert seen["zone_lookups"] == 2  # first lookup, then the one refresh
    assert seen["rejected_auth"] == 2  # the call and its single retry


# -- paging ------------------------------------------------------------------

async def test_pages_1234_invoices_in_three_calls_all_rows_once_in_id_order(session, sim, client):
    await seed(session, sim, companies=[{"id": 678, "companyName": "Acme Dental"}],
               invoices=[{"companyID": 678, "invoiceTotal": 10 + i} for i in range(1234)])
    rows = await collect(client, "Invoices", [F.gt("id", 0)], page_size=500)
    ids = [row["id"] for row in rows]
    assert len(ids) == 1234 and len(set(ids)) == 1234
    assert ids == sorted(ids) and ids[0] == 5_000_000 and ids[-1] == 5_001_233
    assert rows[0]["invoiceTotal"] == 10.0 and rows[-1]["invoiceTotal"] == 1243.0
    seen = await requests_seen(session, sim)
    assert seen["by_entity"]["Invoices"] == {"POST query": 3}


async def test_page_details_link_pages_with_absolute_opaque_urls(session, sim):
    await seed(session, sim, invoices=[{"companyID": 1} for _ in range(5)])
    body = {"MaxRecords": 2, "filter": [{"op": "gte", "field": "id", "value": 0}]}
    url, pages = f"{sim.url}/ATServicesRest/V1.0/Invoices/query", []
    while url:
        async with session.post(url, json=body, headers=AUTH) as response:
            page = await response.json()
        pages.append(page)
        url = page["pageDetails"]["nextPageUrl"]
    assert [[item["id"] for item in p["items"]] for p in pages] == [
        [5_000_000, 5_000_001], [5_000_002, 5_000_003], [5_000_004]]
    first, second, last = (p["pageDetails"] for p in pages)
    assert first["count"] == 2 and first["requestCount"] == 2 and first["prevPageUrl"] is None
    assert re.fullmatch(re.escape(sim.url) + r"/ATServicesRest/V1\.0/Invoices/query/next\?paging=[\w-]+",
                        first["nextPageUrl"])
    assert second["prevPageUrl"] is not None and last["nextPageUrl"] is None and last["count"] == 1
    async with session.post(second["prevPageUrl"], json=body, headers=AUTH) as response:
        assert [item["id"] for item in (await response.json())["items"]] == [5_000_000, 5_000_001]


async def test_rows_created_while_paging_are_not_skipped(session, sim, client):
    await seed(session, sim, invoices=[{"companyID": 1} for _ in range(5)])
    seen_ids = []
    async for row in client.query("Invoices", [F.gt("id", 0)], page_size=2):
        if not seen_ids:  # the first page is already fetched; the new row must still come
            await sim_call(session, sim, "POST", "/_sim/invoices", {"companyID": 1}, expect=201)
        seen_ids.append(row["id"])
    assert seen_ids == list(range(5_000_000, 5_000_006))


async def test_get_query_pages_carry_the_search_along(session, sim):
    await seed(session, sim, companies=[{"companyName": f"C{i}"} for i in range(3)])
    search = '{"MaxRecords":2,"filter":[{"op":"gt","field":"id","value":0}]}'
    async with session.get(f"{sim.url}/ATServicesRest/V1.0/Companies/query",
                           params={"search": search}, headers=AUTH) as response:
        first = await response.json()
    assert [c["companyName"] for c in first["items"]] == ["C0", "C1"]
    async with session.get(first["pageDetails"]["nextPageUrl"], headers=AUTH) as response:
        second = await response.json()
    assert [c["companyName"] for c in second["items"]] == ["C2"]
    assert second["pageDetails"]["nextPageUrl"] is None


# -- filters -----------------------------------------------------------------

@pytest.fixture
async def billing_data(session, sim):
    await seed(
        session, sim,
        companies=[{"id": 10, "companyName": "Acme Dental"}, {"id": 11, "companyName": "Zen Law"},
                   {"id": 12, "companyName": "acme Vets", "isActive": False}],
        contacts=[{"companyID": 10, "firstName": "Ann", "lastName": "Ap", "primaryContact": True},
                  {"companyID": 10, "firstName": "Old", "lastName": "Boy", "isActive": 0}],
        invoices=[
            {"id": 100, "companyID": 10, "invoiceTotal": 500.0, "invoiceDateTime": "2026-10-01T00:00:00Z"},
            {"id": 101, "companyID": 10, "invoiceTotal": 300.0, "invoiceDateTime": "2026-10-20T00:00:00Z"},
            {"id": 102, "companyID": 11, "invoiceTotal": 1000.0, "invoiceDateTime": "2026-11-01T00:00:00Z"},
            {"id": 103, "companyID": 12, "invoiceTotal": 950.0, "invoiceDateTime": "2026-11-02T00:00:00Z"},
            {"id": 104, "companyID": 11, "invoiceTotal": 20.0, "invoiceDateTime": "2026-11-03T00:00:00Z"},
        ],
    )


async def invoice_ids(client, *filters) -> list[int]:
    return [row["id"] for row in await collect(client, "Invoices", list(filters))]


async def test_filter_gt_eq_in_noteq_and_dates(client, billing_data):
    assert await invoice_ids(client, F.gt("id", 101)) == [102, 103, 104]
    assert await invoice_ids(client, F.eq("companyID", 11)) == [102, 104]
    assert await invoice_ids(client, F.in_("companyID", [10, 12])) == [100, 101, 103]
    assert await invoice_ids(client, F.not_in("companyID", [10, 12])) == [102, 104]
    assert await invoice_ids(client, F.gt("id", 0), F.noteq("companyID", 10)) == [102, 103, 104]
    assert await invoice_ids(client, F.lt("invoiceDateTime", "2026-10-20")) == [100]
    assert await invoice_ids(client, F.gte("invoiceDateTime", "2026-11-02T00:00:00.000Z"),
                             F.lte("invoiceTotal", 950)) == [103, 104]


async def test_filter_or_groups_nest_inside_and(client, billing_data):
    either = F.or_(F.eq("companyID", 12), F.gt("invoiceTotal", 900),
                   F.and_(F.eq("companyID", 10), F.lt("invoiceTotal", 400)))
    assert await invoice_ids(client, either) == [101, 102, 103]
    assert await invoice_ids(client, F.gt("id", 101), either) == [102, 103]


async def test_filter_text_ops_ignore_case(client, billing_data):
    names = lambda rows: [row["companyName"] for row in rows]  # noqa: E731
    assert names(await collect(client, "Companies", [F.begins_with("companyName", "ACME")])) == [
        "Acme Dental", "acme Vets"]
    assert names(await collect(client, "Companies", [F.contains("companyName", "law")])) == ["Zen Law"]
    assert names(await collect(client, "Companies", [F.ends_with("companyName", "vets"),
                                                     F.eq("isActive", False)])) == ["acme Vets"]


async def test_contacts_is_active_is_an_int_and_filters_as_one(client, billing_data):
    active = await collect(client, "Contacts", [F.eq("isActive", 1)])
    assert [(c["firstName"], c["isActive"], c["primaryContact"]) for c in active] == [("Ann", 1, True)]
    assert [c["firstName"] for c in await collect(client, "Contacts", [F.eq("isActive", 0)])] == ["Old"]


async def test_exist_and_not_exist_on_invoice_number_and_voided_date(session, sim, client, billing_data):
    await client.update("Invoices", 101, {"invoiceNumber": "1042"})
    await client.update("Invoices", 103, {"invoiceNumber": "1043"})
    assert await invoice_ids(client, F.exist("invoiceNumber")) == [101, 103]
    assert await invoice_ids(client, F.not_exist("invoiceNumber")) == [100, 102, 104]
    await sim_call(session, sim, "POST", "/_sim/invoices/102/void", expect=200)
    assert await invoice_ids(client, F.exist("voidedDate")) == [102]
    assert await invoice_ids(client, F.not_exist("voidedDate"), F.eq("isVoided", False)) == [
        100, 101, 103, 104]


async def test_udf_filters_on_opportunities(session, sim, client, billing_data):
    quote_field = "Quote URL"
    for title, udfs in [("Firewall", [{"name": quote_field, "value": "https://q.example/1"}]),
                        ("Laptops", [{"name": quote_field, "value": None}]), ("Backup", [])]:
        await sim_call(session, sim, "POST", "/_sim/opportunities",
                       {"companyID": 10, "title": title, "status": 1, "userDefinedFields": udfs},
                       expect=201)
    await sim_call(session, sim, "POST", "/_sim/opportunities",
                   {"companyID": 10, "title": "Lost one", "status": 2}, expect=201)
    titles = lambda rows: [row["title"] for row in rows]  # noqa: E731
    assert titles(await collect(client, "Opportunities",
                                [F.udf_eq(quote_field, "https://q.example/1")])) == ["Firewall"]
    assert titles(await collect(client, "Opportunities",
                                [F.eq("status", 1), F.udf("notExist", quote_field)])) == [
        "Laptops", "Backup"]
    firewall = (await collect(client, "Opportunities", [F.udf("beginsWith", quote_field, "https:")]))[0]
    assert firewall["userDefinedFields"] == [{"name": quote_field, "value": "https://q.example/1"}]


async def test_include_fields_returns_only_those_plus_id(client, billing_data):
    rows = await collect(client, "Invoices", [F.eq("companyID", 11)],
                         include_fields=["invoiceTotal"])
    assert rows == [{"id": 102, "invoiceTotal": 1000.0}, {"id": 104, "invoiceTotal": 20.0}]


@pytest.mark.parametrize("condition, message", [
    ({"op": "eq", "field": "noSuchField", "value": 1}, "Unable to find noSuchField in the Invoices entity."),
    ({"op": "gt", "field": "dueDate", "value": "2026-01-01"},
     "The field dueDate of the Invoices entity cannot be queried."),
    ({"op": "like", "field": "id", "value": 1}, "Unknown filter operator 'like'"),
])
async def test_bad_filters_are_500_with_errors(session, sim, condition, message):
    async with session.post(f"{sim.url}/ATServicesRest/V1.0/Invoices/query", headers=AUTH,
                            json={"filter": [condition]}) as response:
        assert response.status == 500
        assert await response.json() == {"errors": [message]}


async def test_client_reports_a_bad_filter_with_the_server_message(session, sim, client):
    with pytest.raises(PsaUnavailable) as caught:  # a 500: the client cannot tell it from an outage
        await client.count("Invoices", [F.gt("dueDate", "2026-01-01")])
    assert caught.value.status == 500
    assert caught.value.messages == ["The field dueDate of the Invoices entity cannot be queried."]
    assert (await requests_seen(session, sim))["by_entity"]["Invoices"] == {"POST count": 3}


@pytest.mark.parametrize("body, message", [
    ({"filter": []}, "A query requires at least one filter condition"),
    ({"MaxRecords": 501, "filter": [{"op": "gt", "field": "id", "value": 0}]},
     "MaxRecords must be between 1 and 500"),
    ({"filter": [{"op": "or", "items": [{"op": "eq", "field": "id", "value": i} for i in range(501)]}]},
     "A query may contain at most 500 OR conditions"),
])
async def test_query_model_limits(session, sim, body, message):
    async with session.post(f"{sim.url}/ATServicesRest/V1.0/Invoices/query", headers=AUTH,
                            json=body) as response:
        assert response.status == 500
        assert await response.json() == {"errors": [message]}


# -- reads and writes --------------------------------------------------------

async def test_count_and_get(client, billing_data):
    assert await client.count("Invoices", [F.eq("companyID", 10)]) == 2
    assert await client.count("Invoices") == 5
    invoice = await client.get("Invoices", 102)
    assert invoice["companyID"] == 11 and invoice["invoiceTotal"] == 1000.0
    assert invoice["invoiceNumber"] is None and invoice["isVoided"] is False
    assert invoice["invoiceDateTime"] == "2026-11-01T00:00:00.000Z"
    assert await client.get("Invoices", 999) is None


async def test_patch_writes_invoice_number_and_date_only_paid_date(session, sim, client, billing_data):
    assert await client.update("Invoices", 100, {"invoiceNumber": "1042",
                                                 "paidDate": "2026-11-27T15:45:10Z",
                                                 "webServiceDate": "2026-11-27T15:45:10.5Z"}) == 100
    shown = await sim_call(session, sim, "GET", "/_sim/invoices/100", expect=200)
    assert shown["invoiceNumber"] == "1042"
    assert shown["paidDate"] == "2026-11-27T00:00:00.000Z"  # the time part is dropped
    assert shown["webServiceDate"] == "2026-11-27T15:45:10.500Z"
    await client.update("Invoices", 100, {"paidDate": None})  # payment cancelled: cleared
    assert (await sim_call(session, sim, "GET", "/_sim/invoices/100"))["paidDate"] is None


async def test_patch_of_a_read_only_invoice_field_is_refused(session, sim, client, billing_data):
    with pytest.raises(PsaError) as caught:
        await client.update("Invoices", 100, {"invoiceTotal": 1.0})
    assert caught.value.messages == ["The field invoiceTotal of the Invoices entity is read-only."]
    assert (await sim_call(session, sim, "GET", "/_sim/invoices/100"))["invoiceTotal"] == 500.0


async def test_patch_of_a_missing_invoice_is_not_found(client, billing_data):
    with pytest.raises(PsaNotFound) as caught:
        await client.update("Invoices", 999, {"invoiceNumber": "1"})
    assert caught.value.status == 500 and "No matching records found" in caught.value.messages[0]


async def test_invoices_cannot_be_created(session, sim, client, billing_data):
    with pytest.raises(PsaError) as caught:
        await client.create("Invoices", {"companyID": 10, "invoiceTotal": 1.0})
    assert caught.value.status == 405 and not isinstance(caught.value, PsaUnavailable)
    assert len(await sim_call(session, sim, "GET", "/_sim/invoices")) == 5


async def test_ticket_creation_is_visible_and_findable_by_marker(session, sim, client, billing_data):
    marker = "[billing-link notification 6f1c]"
    ticket_id = await client.create("Tickets", {
        "companyID": 10, "title": "Payment received", "description": f"Paid 500.00\n{marker}",
        "status": 1, "priority": 2, "queueID": 5, "issueType": 3})
    tickets = await sim_call(session, sim, "GET", "/_sim/tickets", expect=200)
    assert len(tickets) == 1
    ticket = tickets[0]
    assert ticket["id"] == ticket_id and ticket["title"] == "Payment received"
    assert (ticket["companyID"], ticket["queueID"], ticket["issueType"], ticket["priority"]) == (10, 5, 3, 2)
    assert re.fullmatch(r"T\d{8}\.0001", ticket["ticketNumber"])
    assert ticket["creatorResourceID"] == PsaSimConfig().api_resource_id
    assert ticket["createDate"] == ticket["lastActivityDate"]
    found = await collect(client, "Tickets", [F.contains("description", marker)])
    assert [t["id"] for t in found] == [ticket_id]


async def test_ticket_without_required_fields_or_company_is_refused_once(session, sim, client, billing_data):
    with pytest.raises(PsaUnavailable) as caught:
        await client.create("Tickets", {"companyID": 10, "title": "No priority", "status": 1})
    assert caught.value.messages == ["Missing required field(s) for Tickets: priority."]
    with pytest.raises(PsaError, match="does not refer to an existing Companies record"):
        await client.create("Tickets", {"companyID": 77, "title": "x", "status": 1, "priority": 2})
    assert await sim_call(session, sim, "GET", "/_sim/tickets") == []
    assert (await requests_seen(session, sim))["by_entity"]["Tickets"] == {"POST": 2}  # never retried


async def test_contacts_are_created_and_listed_through_their_company(session, sim, client, billing_data):
    contact_id = await client.create_child("Companies", 11, "Contacts", {
        "firstName": "Bea", "lastName": "Billing", "emailAddress": "ap@zen.example",
        "billingContact": True})
    contact = await client.get("Contacts", contact_id)
    assert (contact["companyID"], contact["isActive"], contact["billingContact"]) == (11, 1, True)
    assert contact["lastModifiedDate"] == contact["createDate"]
    async with session.get(f"{sim.url}/ATServicesRest/V1.0/Companies/11/Contacts", headers=AUTH) as r:
        listed = await r.json()
    assert [c["id"] for c in listed["items"]] == [contact_id]


async def test_changes_stamp_the_entity_change_field(session, sim, client, billing_data):
    ticket_id = await client.create("Tickets", {"companyID": 10, "title": "t", "status": 1, "priority": 2})
    other_id = await client.create("Tickets", {"companyID": 11, "title": "u", "status": 1, "priority": 2})
    before = max([(await client.get("Tickets", i))["lastActivityDate"] for i in (ticket_id, other_id)])
    await asyncio.sleep(0.005)
    await client.update("Tickets", ticket_id, {"status": 5})
    after = await client.get("Tickets", ticket_id)
    assert after["lastActivityDate"] > before and after["completedDate"] is not None
    changed = await collect(client, "Tickets", [F.gt("lastActivityDate", before)])
    assert [t["id"] for t in changed] == [ticket_id]
    other_before = (await client.get("Tickets", other_id))["lastActivityDate"]
    await client.update("Tickets", other_id, {"title": "u"})  # same value: nothing changed
    assert (await client.get("Tickets", other_id))["lastActivityDate"] == other_before
    assert await collect(client, "Tickets", [F.gt("lastActivityDate", after["lastActivityDate"])]) == []


# -- faults, counting, limits ------------------------------------------------

@pytest.mark.parametrize("status, message, expected", [
    (403, "Forbidden by security level", PsaPermissionError),
    (500, "The logged in Resource does not have the adequate permissions to create this entity.",
     PsaPermissionError),
    (404, "Not here", PsaNotFound),
    (400, "Bad payload", PsaError),
    (500, "Server exploded", PsaUnavailable),
    (401, "Token expired", PsaAuthError),
])
async def test_faults_become_typed_exceptions_with_messages(session, sim, client, billing_data,
                                                            status, message, expected):
    await sim_call(session, sim, "POST", "/_sim/faults", {"entity": "Tickets", "method": "POST",
                                                          "status": status, "message": message,
                                                          "count": 3}, expect=201)
    with pytest.raises(expected) as caught:
        await client.create("Tickets", {"companyID": 10, "title": "t", "status": 1, "priority": 2})
    assert type(caught.value) is expected
    assert caught.value.status == status and caught.value.messages == [message]
    assert await sim_call(session, sim, "GET", "/_sim/tickets") == []


async def test_faults_match_entity_and_method_and_run_out(session, sim, client, billing_data):
    await sim_call(session, sim, "POST", "/_sim/faults",
                   {"entity": "Invoices", "method": "GET", "status": 503, "message": "down", "count": 2})
    assert await client.count("Invoices") == 5  # a POST: not matched
    invoice = await client.get("Invoices", 100)  # two faults, then the third attempt lands
    assert invoice["id"] == 100
    assert (await requests_seen(session, sim))["by_entity"]["Invoices"] == {"POST count": 1, "GET": 3}
    assert await sim_call(session, sim, "GET", "/_sim/faults") == []


async def test_requests_are_counted_per_entity_and_method(session, sim, client, billing_data):
    await client.count("Invoices")
    await collect(client, "Invoices", [F.gt("id", 0)])
    await client.get("Invoices", 100)
    await client.update("Invoices", 100, {"invoiceNumber": "9"})
    await client.get("Companies", 10)
    await client.invoice_pdf(100)
    await client.threshold_information()
    seen = await requests_seen(session, sim)
    assert seen["by_entity"] == {
        "Companies": {"GET": 1},
        "Invoices": {"POST count": 1, "POST query": 1, "GET": 1, "PATCH": 1, "GET InvoicePDF": 1},
        "ThresholdInformation": {"GET": 1},
    }
    assert seen["total"] == 7 and seen["current_hour"] == 7 and seen["zone_lookups"] == 1
    await sim_call(session, sim, "DELETE", "/_sim/requests")
    assert (await requests_seen(session, sim))["total"] == 0


async def test_threshold_information_and_the_hourly_limit(session, sim, client, billing_data):
    await sim_call(session, sim, "POST", "/_sim/config", {"hourly_limit": 6, "throttle_latency_ms": 0})
    for _ in range(4):
        await client.count("Invoices")
    info = await client.threshold_information()
    assert (info.external_request_threshold, info.request_threshold_timeframe_minutes,
            info.current_timeframe_request_count) == (6, 60, 5)
    await client.count("Invoices")
    with pytest.raises(PsaRateLimited) as caught:
        await client.count("Invoices")
    assert caught.value.status == 500
    assert caught.value.messages[0].startswith("Request limit exceeded")
    assert (await requests_seen(session, sim))["total"] == 7  # refused once, not retried


async def test_half_the_hourly_limit_adds_latency(session, sim, client, billing_data):
    await sim_call(session, sim, "POST", "/_sim/config", {"hourly_limit": 4, "throttle_latency_ms": 150})
    loop = asyncio.get_running_loop()
    durations = []
    for _ in range(3):
        started = loop.time()
        await client.count("Invoices")
        durations.append(loop.time() - started)
    assert durations[0] < 0.1 and durations[1] < 0.1 and durations[2] >= 0.15


async def test_calls_over_the_thread_limit_are_slowed_and_counted(session, sim, billing_data):
    await sim_call(session, sim, "POST", "/_sim/config", {"latency_ms": 50, "over_thread_latency_ms": 10})

    async def one_count() -> int:
        async with session.post(f"{sim.url}/ATServicesRest/V1.0/Invoices/query/count", headers=AUTH,
                                json={"filter": [{"op": "gt", "field": "id", "value": 0}]}) as r:
            return (await r.json())["queryCount"]

    assert await asyncio.gather(*(one_count() for _ in range(6))) == [5] * 6
    seen = await requests_seen(session, sim)
    assert seen["max_concurrent"]["Invoices"] == 6 and seen["over_thread_limit"] == 3


# -- invoice image, control surface -----------------------------------------

async def test_invoice_pdf_names_the_invoice(client, billing_data):
    await client.update("Invoices", 101, {"invoiceNumber": "1042"})
    pdf = await client.invoice_pdf(101)
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    assert b"(Invoice 1042)" in pdf and b"startxref" in pdf
    assert await client.invoice_pdf(999) is None


async def test_bulk_seed_with_invoice_lines(session, sim, client):
    await seed(session, sim, companies=[{"id": 7, "companyName": "Seven"}],
               invoices=[{"companyID": 7, "invoiceDateTime": "2026-11-01", "dueDate": "2026-12-01",
                          "lines": [{"description": "Managed services", "quantity": 2, "rate": 150},
                                    {"description": "Backup", "quantity": 1, "rate": 25.5}]}])
    invoice = (await collect(client, "Invoices", [F.eq("companyID", 7)]))[0]
    assert invoice["invoiceTotal"] == 325.5 and invoice["dueDate"] == "2026-12-01T00:00:00.000Z"
    lines = await collect(client, "BillingItems", [F.eq("invoiceID", invoice["id"])])
    assert [(line["description"], line["quantity"], line["rate"], line["extendedPrice"], line["companyID"])
            for line in lines] == [("Managed services", 2.0, 150.0, 300.0, 7), ("Backup", 1.0, 25.5, 25.5, 7)]


async def test_bulk_seed_is_all_or_nothing(session, sim):
    async with session.post(f"{sim.url}/_sim/bulk", json={
            "companies": [{"id": 1, "companyName": "a"}, {"id": 1, "companyName": "b"}]}) as r:
        assert r.status == 422
        assert "appears twice" in (await r.json())["error"]["message"]
    assert [c["id"] for c in await sim_call(session, sim, "GET", "/_sim/companies")] == [0]  # the MSP's own


async def test_sim_invoice_seed_void_and_reset(session, sim):
    created = await sim_call(session, sim, "POST", "/_sim/invoices",
                             {"companyID": 5, "invoiceTotal": "500.00", "invoiceDateTime": "2026-11-01"},
                             expect=201)
    assert created["invoiceNumber"] is None and created["invoiceTotal"] == 500.0
    assert created["createDateTime"].endswith("Z") and created["isVoided"] is False
    voided = await sim_call(session, sim, "POST", f"/_sim/invoices/{created['id']}/void", expect=200)
    assert voided["isVoided"] is True and voided["voidedDate"] is not None
    assert (await sim_call(session, sim, "GET", "/_sim/invoices?companyID=5"))[0]["isVoided"] is True
    await sim_call(session, sim, "POST", "/_sim/reset", expect=200)
    assert await sim_call(session, sim, "GET", "/_sim/invoices") == []
    await sim_call(session, sim, "GET", f"/_sim/invoices/{created['id']}", expect=404)


async def test_company_zero_is_the_msps_own_and_takes_tickets(session, sim, client):
    """Every Autotask instance has the MSP's own company with id 0 (the "zero company"); tickets
    about no client go there. It survives a reset; a tenant without it rejects company 0."""
    ticket = {"companyID": 0, "title": "Sync failed", "status": 1, "priority": 2}
    ticket_id = await client.create("Tickets", ticket)
    assert (await client.get("Tickets", ticket_id))["companyID"] == 0
    await sim_call(session, sim, "POST", "/_sim/reset", expect=200)
    assert (await client.get("Companies", 0))["companyName"] == "Our MSP (local organization)"
    assert await collect(client, "Companies", [F.gt("id", 0)]) == []  # clients read past it
    async with running_psa_simulator(PsaSimConfig(local_company_name=None)) as bare:
        with pytest.raises(PsaError) as refused:
            await make_client(session, bare).create("Tickets", ticket)
        assert refused.value.status == 500
        assert "Value 0 of companyID does not refer to an existing Companies record" in str(refused.value)


# -- entityInformation and picklists -----------------------------------------

async def api_get(session, sim, path: str) -> tuple[int, Any]:
    async with session.get(f"{sim.url}/ATServicesRest/V1.0/{path}", headers=AUTH) as r:
        return r.status, await r.json()


async def test_entity_information_says_what_each_entity_allows(session, sim):
    tickets = await api_get(session, sim, "Tickets/entityInformation")
    invoices = await api_get(session, sim, "invoices/EntityInformation")
    udfs = await api_get(session, sim, "Tickets/entityInformation/userDefinedFields")

    assert tickets == (200, {"info": {
        "name": "Tickets", "canCreate": True, "canDelete": False, "canQuery": True,
        "canUpdate": True, "userAccessForCreate": "All", "userAccessForDelete": "None",
        "userAccessForQuery": "All", "userAccessForUpdate": "All",
        "hasUserDefinedFields": True, "supportsWebhookCallouts": True}})
    info = invoices[1]["info"]
    assert (info["name"], info["canCreate"], info["canUpdate"], info["hasUserDefinedFields"],
            info["supportsWebhookCallouts"]) == ("Invoices", False, True, False, False)
    assert udfs == (200, {"fields": []})
    assert (await requests_seen(session, sim))["by_entity"]["Tickets"] == {
        "GET entityInformation": 1, "GET entityInformation/userDefinedFields": 1}


async def test_ticket_fields_carry_the_picklists_in_autotasks_shape(session, sim):
    status, body = await api_get(session, sim, "Tickets/entityInformation/fields")
    fields = {f["name"]: f for f in body["fields"]}

    assert status == 200 and "userDefinedFields" not in fields
    queue = fields["queueID"]
    assert (queue["dataType"], queue["isPickList"], queue["isRequired"], queue["isReadOnly"],
            queue["isQueryable"]) == ("integer", True, False, False, True)
    client_portal = next(v for v in queue["picklistValues"] if v["label"] == "Client Portal")
    assert client_portal == {"value": "29682833", "label": "Client Portal", "isDefaultValue": True,
                             "sortOrder": client_portal["sortOrder"], "parentValue": "",
                             "isActive": True, "isSystem": False}
    assert {v["value"]: v["label"] for v in fields["priority"]["picklistValues"]} == \
        {"1": "High", "2": "Medium", "3": "Low", "4": "Critical"}
    assert {"1": "New", "5": "Complete"}.items() <= \
        {v["value"]: v["label"] for v in fields["status"]["picklistValues"]}.items()
    assert "3" in {v["value"] for v in fields["issueType"]["picklistValues"]}
    assert fields["subIssueType"]["picklistParentValueField"] == "issueType"
    title, company = fields["title"], fields["companyID"]
    assert (title["dataType"], title["length"], title["isRequired"], title["isPickList"],
            title["picklistValues"]) == ("string", 250, True, False, None)
    assert (company["isReference"], company["referenceEntityType"]) == (True, "Companies")
    assert fields["ticketNumber"]["isReadOnly"] and not fields["creatorType"]["isQueryable"]


async def test_tickets_with_unknown_picklist_values_are_refused(session, sim, client, billing_data):
    base = {"companyID": 10, "title": "t", "status": 1, "priority": 2}
    refused = []
    for extra in ({"queueID": 99}, {"queueID": 29683481}, {"priority": 7},
                  {"issueType": 3, "subIssueType": 21}):
        with pytest.raises(PsaError) as caught:
            await client.create("Tickets", {**base, **extra})
        refused.append((caught.value.status, caught.value.messages))
    # What the notifications service sends by default (queue 5, issue type 3, Medium, New).
    ticket_id = await client.create("Tickets", {**base, "queueID": 5, "issueType": 3,
                                                "subIssueType": 13})
    with pytest.raises(PsaError, match="Value 42 of status is not a valid Tickets picklist value"):
        await client.update("Tickets", ticket_id, {"status": 42})

    assert refused[0] == (500, ["Value 99 of queueID is not a valid Tickets picklist value."])
    assert refused[1][1] == ["Value 29683481 of queueID is not a valid Tickets picklist value."]
    assert refused[2][1] == ["Value 7 of priority is not a valid Tickets picklist value."]
    assert "for issueType 3" in refused[3][1][0]
    assert [t["id"] for t in await sim_call(session, sim, "GET", "/_sim/tickets")] == [ticket_id]
    assert (await client.get("Tickets", ticket_id))["status"] == 1
