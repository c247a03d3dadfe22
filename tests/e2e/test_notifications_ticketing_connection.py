"""Connect to Ticketing: the PSA credentials stored through the API (sealed), tested, and the tenant's
ticket picklists read from the PSA; tickets then go out with them, without any PSA_* environment."""
from __future__ import annotations

import asyncpg
import pytest

from billing_shared.events.catalog import BILLING_PAYMENTS
from tests.e2e.notifications_support import payment_succeeded, psa_tickets, stack  # noqa: F401 - fixture
from tests.support import eventually

pytestmark = pytest.mark.timeout(120)
NO_PSA_ENV = {"PSA_USERNAME": "", "PSA_SECRET": "", "PSA_INTEGRATION_CODE": ""}


async def test_an_admin_connects_ticketing_reads_picklists_and_tickets_use_it(stack, database_url):
    await stack.start(**NO_PSA_ENV)
    await stack.api("GET", "/v1/settings/ticketing/connection", status=404)
    refused = await stack.api("GET", "/v1/settings/ticketing/choices", status=409)
    assert refused["error"]["code"] == "ticketing_not_connected"
    await stack.api("PUT", "/v1/settings/ticketing/connection", {"username": "api@msp.example",
                    "integration_code": "SIMINTEGRATIONCODE000000000000"}, status=422)  # a secret the first time

    shown = await stack.api("PUT", "/v1/settings/ticketing/connection", {
        "username": "api@msp.example", "secret": "sim-secret", "integration_code": "SIMINTEGRATIONCODE000000000000",
        "base_url": stack.psa.zone_lookup_base})
    assert shown["secret"] != "sim-secret" and shown["secret"].startswith("****") and shown["source"] == "stored"
    assert await stack.api("POST", "/v1/settings/ticketing/connection/test") == {"ok": True, "reason": None}

    choices = await stack.api("GET", "/v1/settings/ticketing/choices")
    assert {"value": 29682833, "label": "Client Portal", "is_default": True} in choices["queues"]
    assert [p["label"] for p in choices["priorities"]][:2] == ["High", "Medium"]
    assert choices["issue_types"] and all(isinstance(c["value"], int) for c in choices["issue_types"])

    conn = await asyncpg.connect(database_url)
    try:
        sealed = await conn.fetchval("SELECT secret_sealed FROM notifications.psa_connection")
    finally:
        await conn.close()
    assert b"sim-secret" not in bytes(sealed)

    await stack.api("PUT", "/v1/settings/notifications", {"payment.succeeded": {"ticket": True}})
    await stack.publish(BILLING_PAYMENTS, payment_succeeded())
    tickets = await eventually(lambda: psa_tickets(stack.http, stack.psa.url), timeout=30)
    assert len(tickets) == 1 and tickets[0]["companyID"] == 678

    # a wrong secret is reported by the test, not hidden
    await stack.api("PUT", "/v1/settings/ticketing/connection", {
        "username": "api@msp.example", "secret": "wrong", "integration_code": "SIMINTEGRATIONCODE000000000000",
        "base_url": stack.psa.zone_lookup_base})
    tested = await stack.api("POST", "/v1/settings/ticketing/connection/test")
    assert tested["ok"] is False and tested["reason"]
    await stack.api("DELETE", "/v1/settings/ticketing/connection", status=204)
    await stack.api("GET", "/v1/settings/ticketing/connection", status=404)


async def test_ticketing_values_the_tenants_picklists_do_not_have_are_refused(stack):
    await stack.start()  # PSA credentials from the environment
    refused = await stack.api("PUT", "/v1/settings/ticketing", {"priority": 209, "queue_id": 8}, status=422)
    assert refused["error"]["code"] == "invalid_request"
    assert set(refused["error"]["details"]["fields"]) == {"priority"}
    assert "209 is not an active Autotask priority" in refused["error"]["message"]
    assert (await stack.api("GET", "/v1/settings/ticketing"))["priority"] == 2  # unchanged
    changed = await stack.api("PUT", "/v1/settings/ticketing", {"priority": 1, "queue_id": 8, "issue_type_id": 3})
    assert (changed["priority"], changed["queue_id"], changed["issue_type_id"]) == (1, 8, 3)
