"""Autopay end to end: payments and sync as processes, the gateway simulator; each test its own organization.
An enrolled organization's invoice due today is charged once (one sale at the gateway, one payment), a balance
over the maximum is skipped, a decline is retried on the schedule and then given up, and the enrollment API."""
from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio

from billing_shared.events.catalog import BILLING_PAYMENTS, UPSTREAM_INVOICES
from billing_shared.events.upstream import InvoiceUpserted, InvoiceUpsertedData, UpstreamOrganization
from billing_shared.money import money
from tests.e2e.conftest import CLIENT, MANAGER
from tests.e2e.payments_support import PaymentsWorld, new_world
from tests.support import eventually, read_topic

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(180)]

AUTOPAY_ENV = {
    "AUTOPAY_INTERVAL_SECONDS": "0.3",
    "AUTOPAY_RETRY_DAYS": json.dumps([2 / 86400, 2 / 86400]),  # two retries, two seconds apart
    "AUTOPAY_CHECK_TIMEOUT_SECONDS": "5",
}
_orgs = itertools.count(7100)
_externals = itertools.count(71000)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(infra, tmp_path_factory) -> AsyncIterator[PaymentsWorld]:
    world = await new_world(infra, tmp_path_factory.mktemp("autopay"), **AUTOPAY_ENV)
    await world.configure()
    yield world
    await world.stop()


async def due_invoice(world: PaymentsWorld, organization: str, total: str, *, due_in_days: int = 0) -> str:
    """An upstream invoice issued a month ago and due `due_in_days` from today (UTC), once payments has it."""
    today = datetime.now(UTC).date()
    external_id = str(next(_externals))
    event = InvoiceUpserted.new(producer="e2e", organization_id=f"autotask:{organization}", data=InvoiceUpsertedData(
        source="autotask", external_id=external_id, version=1,
        organization=UpstreamOrganization(external_id=organization, name=f"Organization {organization}"),
        invoice_number=str(int(external_id) + 10000), issued_on=today - timedelta(days=30),
        due_on=today + timedelta(days=due_in_days), currency="USD", total=money(total)))  # type: ignore[arg-type]
    await world.producer.send_and_wait(world.names(UPSTREAM_INVOICES), event.to_json(),
                                       key=event.organization_id.encode())
    invoice_id = f"autotask:{external_id}"
    world.invoice_organizations[invoice_id] = event.organization_id
    await eventually(lambda: world.find_invoice(invoice_id), timeout=30)
    return invoice_id


async def stored_method(world: PaymentsWorld, organization_id: str, token: str = "tok_visa_approved") -> str:
    payer = await world.payer(organization_id)
    reply = await world.call("POST", f"/v1/organizations/{organization_id}/wallet", MANAGER,
                             {"token": token, "contact_id": payer})
    assert reply.status == 201, reply
    return reply.body["method_id"]


async def enroll(world: PaymentsWorld, organization_id: str, method_id: str, max_amount: str = "1000.00",
                 rule: dict[str, Any] | None = None) -> dict[str, Any]:
    reply = await world.call("PUT", f"/v1/organizations/{organization_id}/autopay", MANAGER, {
        "method_id": method_id, "rule": rule or {"kind": "on_due_date"}, "max_amount": max_amount})
    assert reply.status == 200, reply
    return reply.body


async def attempts(world: PaymentsWorld, organization_id: str) -> list[dict[str, Any]]:
    reply = await world.call("GET", f"/v1/organizations/{organization_id}/autopay/attempts")
    assert reply.status == 200, reply
    return reply.body["items"]


async def settled(world: PaymentsWorld, organization_id: str, count: int = 1) -> list[dict[str, Any]]:
    """The attempts once `count` of them have reached an end state."""
    async def done():
        items = await attempts(world, organization_id)
        ended = [a for a in items if a["status"] in ("succeeded", "skipped", "gave_up", "failed")]
        return items if len(ended) >= count and not any(
            a["status"] in ("checking", "charging", "scheduled") for a in items) else None
    return await eventually(done, timeout=60, interval=0.3)


async def autopay_events(world: PaymentsWorld, organization_id: str) -> list[dict[str, Any]]:
    records = await read_topic(world.bootstrap, world.names(BILLING_PAYMENTS), count=0, timeout=5, settle=0.5)
    found = [json.loads(r.value) for r in records]
    return [e for e in found if e["event_type"].startswith("autopay.") and e["organization_id"] == organization_id
            and e["event_type"] != "autopay.balance_check_requested"]


async def test_an_invoice_due_today_is_charged_once_with_the_enrolled_method(world):
    org = f"autotask:{next(_orgs)}"
    invoice_id = await due_invoice(world, org.split(":")[1], "245.00")
    not_yet = await due_invoice(world, org.split(":")[1], "80.00", due_in_days=10)
    method_id = await stored_method(world, org)
    body = await enroll(world, org, method_id)
    assert body["enrollment"]["method"]["last4"] == "1111" and body["enrollment"]["rule"]["kind"] == "on_due_date"

    [attempt] = await settled(world, org)
    assert (attempt["invoice_id"], attempt["status"], attempt["amount"], attempt["attempt_number"]) == \
        (invoice_id, "succeeded", "245.00", 1)
    sales = await world.sales_of(attempt["payment_id"])
    assert len(sales) == 1 and Decimal(sales[0]["amount"]) == Decimal("245.00")
    payment = await world.payment(attempt["payment_id"])
    assert (payment["status"], payment["applied_amount"], payment["method"]["last4"]) == ("succeeded", "245.00", "1111")
    assert payment["origin"] == "autopay"  # its receipt is autopay.succeeded, not a second payment.succeeded email
    view = await world.invoice_view(invoice_id)
    assert (view["status"], view["balance"]) == ("paid", "0.00")
    assert (await world.invoice_view(not_yet))["status"] == "open"  # due in ten days: not charged today
    search = await world.call("GET", f"/v1/payments?organization_id={org}")
    assert [p["payment_id"] for p in search.body["items"]] == [attempt["payment_id"]]

    events = await eventually(lambda: _of_type(world, org, "autopay.succeeded"), timeout=20)
    assert len(events) == 1 and events[0]["data"]["payment_id"] == attempt["payment_id"]


async def _of_type(world: PaymentsWorld, org: str, event_type: str) -> list[dict[str, Any]] | None:
    found = [e for e in await autopay_events(world, org) if e["event_type"] == event_type]
    return found or None


async def test_a_balance_over_the_maximum_is_skipped_and_nothing_is_charged(world):
    org = f"autotask:{next(_orgs)}"
    invoice_id = await due_invoice(world, org.split(":")[1], "250.00")
    method_id = await stored_method(world, org)
    await enroll(world, org, method_id, max_amount="100.00")
    [attempt] = await settled(world, org)
    assert (attempt["invoice_id"], attempt["status"], attempt["skip_reason"], attempt["payment_id"]) == \
        (invoice_id, "skipped", "over_maximum", None)
    view = await world.invoice_view(invoice_id)
    assert (view["status"], view["balance"]) == ("open", "250.00")
    search = await world.call("GET", f"/v1/payments?organization_id={org}")
    assert search.body["items"] == []


async def test_a_decline_is_retried_on_the_schedule_then_given_up(world):
    org = f"autotask:{next(_orgs)}"
    invoice_id = await due_invoice(world, org.split(":")[1], "130.00")
    method_id = await stored_method(world, org, "tok_visa_declined")
    await enroll(world, org, method_id)
    items = await settled(world, org, count=3)
    assert [(a["attempt_number"], a["status"]) for a in items] == [(3, "gave_up"), (2, "failed"), (1, "failed")]
    assert all(a["invoice_id"] == invoice_id and a["reason"] for a in items)
    assert items[0]["scheduled_for"] > items[1]["scheduled_for"] > items[2]["scheduled_for"]
    payments = (await world.call("GET", f"/v1/payments?organization_id={org}")).body["items"]
    assert len(payments) == 3 and {p["status"] for p in payments} == {"failed"}
    assert (await world.invoice_view(invoice_id))["status"] == "open"

    failed = await eventually(lambda: _of_type(world, org, "autopay.failed"), timeout=20)
    assert sorted((e["data"]["attempt_number"], e["data"]["final"]) for e in failed) == \
        [(1, False), (2, False), (3, True)]
    assert all(e["data"]["reason"] for e in failed)
    await settled(world, org, count=3)  # no fourth attempt follows
    assert len(await attempts(world, org)) == 3


async def test_enrollment_can_be_read_changed_and_turned_off_idempotently(world):
    org = f"autotask:{next(_orgs)}"
    await due_invoice(world, org.split(":")[1], "50.00", due_in_days=20)
    method_id = await stored_method(world, org)
    off = await world.call("GET", f"/v1/organizations/{org}/autopay")
    assert off.status == 200 and off.body == {"organization_id": org, "enrollment": None}
    body = await enroll(world, org, method_id, max_amount="75.50", rule={"kind": "days_after_issue", "days": 45})
    assert body["enrollment"]["rule"] == {"kind": "days_after_issue", "days": 45}
    assert body["enrollment"]["max_amount"] == "75.50" and body["enrollment"]["currency"] == "USD"
    assert (await world.call("GET", f"/v1/organizations/{org}/autopay")).body == body
    for bad in ({"method_id": method_id, "rule": {"kind": "days_after_issue", "days": 91}, "max_amount": "1.00"},
                {"method_id": method_id, "rule": {"kind": "on_due_date"}, "max_amount": "0.00"},
                {"method_id": method_id, "rule": {"kind": "weekly"}, "max_amount": "1.00"},
                {"method_id": method_id, "rule": {"kind": "on_due_date"}, "max_amount": 10.5}):
        reply = await world.call("PUT", f"/v1/organizations/{org}/autopay", MANAGER, bad)
        assert (reply.status, reply.body["error"]["code"]) == (422, "invalid_request"), (bad, reply)
    other_org = f"autotask:{next(_orgs)}"
    await due_invoice(world, other_org.split(":")[1], "50.00", due_in_days=20)
    foreign = await stored_method(world, other_org)
    reply = await world.call("PUT", f"/v1/organizations/{org}/autopay", MANAGER,
                             {"method_id": foreign, "rule": {"kind": "on_due_date"}, "max_amount": "1.00"})
    assert (reply.status, reply.body["error"]["code"]) == (404, "not_found")  # another organization's method
    client = await world.call("GET", f"/v1/organizations/{org}/autopay", CLIENT)
    assert client.status == 404  # the client of autotask:678 never sees another organization's autopay
    for _ in range(2):
        assert (await world.call("DELETE", f"/v1/organizations/{org}/autopay")).status == 204
    assert (await world.call("GET", f"/v1/organizations/{org}/autopay")).body["enrollment"] is None
