"""Bad input at the edge of each service answers 4xx in the contract's shape and our own words, never a
500 and never a library's text (the inputs fuzzing every OpenAPI operation found)."""
from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from billing_notifications.bootstrap import build_app as notifications_app
from billing_notifications.config import NotificationsSettings
from billing_payments.bootstrap import build_app as payments_app
from billing_payments.config import PaymentsSettings
from billing_shared.secrets import new_key
from billing_sync.bootstrap import build_app as sync_app
from billing_sync.config import SyncSettings
from tests.e2e.sync_support import PSA_CODE, PSA_SECRET, PSA_USER, simulators

pytestmark = pytest.mark.timeout(90)

ADMIN, MANAGER = "edge-admin", "edge-manager"
TOKENS = json.dumps([{"token": ADMIN, "role": "admin"}, {"token": MANAGER, "role": "manager"}])
LEAKS = ("input_value", "pydantic", "errors.pydantic.dev", "Expecting", "Traceback", "InvalidOperation",
         "Decimal(", "Exceeds the limit", "line 1 column", "asyncpg", "something went wrong")
HUGE_INT = "9" * 5000  # more digits than Python's JSON parser takes


def cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode().rstrip("=")


class Api:
    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url

    async def send(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
                   content_type: str = "application/json", token: str = ADMIN,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        sent = {"Authorization": f"Bearer {token}", **(headers or {})}
        if data is not None:
            sent["Content-Type"] = content_type
        async with self.http.request(method, self.url + path, data=data, headers=sent) as response:
            return response.status, await response.json(content_type=None)

    async def refused(self, method: str, path: str, body: Any = None, *, status: int = 422, **kw: Any) -> dict:
        got, payload = await self.send(method, path, body, **kw)
        assert got == status, (method, path, body, got, payload)
        error = payload["error"]
        assert set(error) == {"code", "message", "details"} and isinstance(error["details"], dict), payload
        text = json.dumps(payload)
        assert not any(leak in text for leak in LEAKS), payload
        return error


def settings(cls: type, infra: Any, database_url: str, topic_prefix: str, **extra: Any) -> Any:
    return cls(database_url=database_url, kafka_bootstrap_servers=infra.kafka_bootstrap,
               kafka_topic_prefix=topic_prefix, api_tokens=TOKENS, secrets_key=new_key(), log_level="WARNING",
               log_format="console", **extra)


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def apis(infra, database_url, topic_prefix) -> AsyncIterator[dict[str, Api]]:
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(aiohttp.ClientSession())
        urls = {
            "sync": await stack.enter_async_context(serving(sync_app(settings(
                SyncSettings, infra, database_url, topic_prefix, scheduler_tick_seconds=60)))),
            "payments": await stack.enter_async_context(serving(payments_app(settings(
                PaymentsSettings, infra, database_url, topic_prefix, gateway_base_url="http://127.0.0.1:9",
                gateway_webhook_signing_key="edge-key")))),
            "notifications": await stack.enter_async_context(serving(notifications_app(settings(
                NotificationsSettings, infra, database_url, topic_prefix, freshness_enabled=False)))),
        }
        yield {name: Api(http, url) for name, url in urls.items()}


AUTOTASK = {"username": "api@msp.example", "secret": "s", "integration_code": "CODE", "sync_interval_minutes": 60}
QUICKBOOKS = {"realm_id": "r", "client_id": "c", "client_secret": "s", "refresh_token": "t"}
PAY = {"invoice_id": "autotask:1", "payment_method": {"token": "tok_visa_approved"}}


async def test_stored_strings_refuse_nul_and_control_characters(apis):
    sync, payments, notifications = apis["sync"], apis["payments"], apis["notifications"]
    for field in ("username", "integration_code", "secret", "quote_url_field"):
        for bad in ("api\u0000user", "api\nuser"):
            await sync.refused("PUT", "/v1/integrations/autotask", {**AUTOTASK, field: bad})
    await sync.refused("PUT", "/v1/integrations/autotask", {**AUTOTASK, "base_url": "http://x/\u0000"})
    for field in ("realm_id", "client_id", "client_secret", "refresh_token"):
        await sync.refused("PUT", "/v1/integrations/quickbooks", {**QUICKBOOKS, field: "a\u0000b"})
    await payments.refused("PUT", "/v1/settings/payment-processing", {"public_key": "pk\u0000"})
    await payments.refused("POST", "/v1/payments", {**PAY, "invoice_id": "autotask:\u00001"}, token=MANAGER,
                           headers={"Idempotency-Key": "k1"})
    await notifications.refused("PUT", "/v1/settings/notifications", {"payment.succeeded\u0000": {"email": True}})
    # and in the path and the query
    await sync.refused("GET", "/v1/organizations/autotask%3A1%00/contacts", token=MANAGER)
    await payments.refused("GET", "/v1/payments?invoice_id=a%00b", token=MANAGER)
    error = await payments.refused("GET", "/v1/invoices?organization_id=%00", token=MANAGER)
    assert error["code"] == "invalid_request" and error["details"] == {
        "fields": {"organization_id": "may not contain control characters"}}


async def test_integers_fit_their_columns_and_ids_are_positive(apis):
    notifications, sync = apis["notifications"], apis["sync"]
    for bad in ({"status": 13274904109}, {"queue_id": 0}, {"queue_id": 2**31}, {"issue_type_id": -1},
                {"priority": 0}, {"priority": 2**40}, {"internal_company_id": -1}, {"queue_id": "5"}):
        error = await notifications.refused("PUT", "/v1/settings/ticketing", bad)
        assert list(error["details"]["fields"]) == list(bad), error
    got, ticketing = await notifications.send("GET", "/v1/settings/ticketing")
    assert (got, ticketing["queue_id"], ticketing["status"]) == (200, None, 1)  # nothing of the above was kept
    error = await notifications.refused("PUT", "/v1/settings/ticketing", {"queue_id": 0})
    assert error["details"] == {"fields": {"queue_id": "must be at least 1"}}
    assert error["message"] == "queue_id must be at least 1"
    # an integer too long for the JSON parser, anywhere in a body
    await notifications.refused("PUT", "/v1/settings/ticketing", raw=f'{{"queue_id": {HUGE_INT}}}'.encode())
    await sync.refused("PUT", "/v1/integrations/autotask",
                       raw=json.dumps(AUTOTASK).replace('60', HUGE_INT).encode())
    await apis["payments"].refused("POST", "/v1/payments", raw=f'{{"amount": {HUGE_INT}}}'.encode(),
                                   token=MANAGER, headers={"Idempotency-Key": "k2"})


@pytest.mark.parametrize("amount", ["1e30", "1E+2", "NaN", "-Infinity", "1.001", "1000000000000", "0x10", 1e3])
async def test_amounts_other_than_plain_two_place_decimals_are_invalid_requests(apis, amount):
    payments = apis["payments"]
    error = await payments.refused("POST", "/v1/payments", {**PAY, "amount": amount}, token=MANAGER,
                                   headers={"Idempotency-Key": f"amount-{amount}"})
    assert error["code"] == "invalid_request" and list(error["details"]["fields"]) == ["amount"], error
    refund = await payments.refused("POST", "/v1/payments/00000000-0000-4000-8000-000000000000/refund",
                                    {"amount": amount}, token=MANAGER)
    assert list(refund["details"]["fields"]) == ["amount"], refund


async def test_a_field_error_names_the_field_in_our_words(apis):
    error = await apis["payments"].refused("POST", "/v1/payments", {**PAY, "amount": "1.001", "tip": 1},
                                           token=MANAGER, headers={"Idempotency-Key": "words"})
    assert error["details"] == {"fields": {"amount": "must be a decimal with at most two places",
                                           "tip": "is not a field of this request"}}
    assert error["message"] == "amount must be a decimal with at most two places (and 1 more)"


async def test_cursors_this_api_did_not_hand_out_are_invalid_requests(apis):
    sync, payments, notifications = apis["sync"], apis["payments"], apis["notifications"]
    bad_payment_cursors = [cursor("2026-11-27T10:00:00+00:00", "not-a-uuid"), cursor("yesterday", "x"),
                           cursor("2026-11-27T10:00:00", "00000000-0000-4000-8000-000000000000"), cursor(1, 2, 3),
                           cursor("2026-11-27T10:00:00+00:00"), "%%%", cursor({"a": 1})]
    for bad in bad_payment_cursors:
        error = await payments.refused("GET", f"/v1/payments?cursor={bad}", token=MANAGER)
        assert error["details"] == {"fields": {"cursor": "is not one this API returned"}}
    await sync.refused("GET", f"/v1/sync/runs?cursor={cursor('2026-11-27T10:00:00+00:00', 'not-a-uuid')}")
    for bad in (cursor("\u0000"), cursor(5), cursor("a", "b")):
        await payments.refused("GET", f"/v1/invoices?cursor={bad}", token=MANAGER)
        await sync.refused("GET", f"/v1/organizations?cursor={bad}", token=MANAGER)
    for bad in (cursor(2**70), cursor("7"), cursor(True), cursor(-1)):
        await notifications.refused("GET", f"/v1/deliveries?cursor={bad}")


async def test_bodies_that_are_not_json_are_refused_without_the_parsers_words(apis):
    sync, payments, notifications = apis["sync"], apis["payments"], apis["notifications"]
    error = await sync.refused("PUT", "/v1/integrations/autotask", raw=b"username=x", status=415,
                               content_type="application/x-www-form-urlencoded")
    assert error["code"] == "unsupported_media_type"
    await payments.refused("PUT", "/v1/settings/payment-processing", raw=b'{"active": true}', status=415,
                           content_type="text/plain")
    await notifications.refused("PUT", "/v1/settings/ticketing", raw=b'{"priority": 2}', status=415,
                                content_type="application/octet-stream")
    for raw in (b"{not json", b'{"priority": NaN}', b"\xff\xfe", b"[" * 100_000):
        error = await notifications.refused("PUT", "/v1/settings/ticketing", raw=raw)
        assert error["message"] == "the body is not valid JSON", error
    got, _ = await sync.send("POST", "/v1/sync/runs", raw=b"")  # no body at all is still fine
    assert got == 409  # (no integration yet), not 415


@pytest.mark.parametrize("shape", ["{root}", "{root}/", "{root}/ATServicesRest", "{root}/atservicesrest/",
                                   "{root}/AtServicesRest/v1.0/"])
async def test_a_psa_base_url_given_as_the_root_or_the_rest_path_both_connect(infra, database_url, topic_prefix,
                                                                              shape):
    async with simulators() as sims, aiohttp.ClientSession() as http, serving(sync_app(settings(
            SyncSettings, infra, database_url, topic_prefix, scheduler_tick_seconds=60))) as url:
        api = Api(http, url)
        body = {"username": PSA_USER, "secret": PSA_SECRET, "integration_code": PSA_CODE,
                "base_url": shape.format(root=sims.psa.url)}
        assert (await api.send("PUT", "/v1/integrations/autotask", body))[0] == 200
        got, result = await api.send("POST", "/v1/integrations/autotask/test")
        assert (got, result) == (200, {"ok": True})


async def test_a_psa_base_url_that_does_not_answer_says_which_url_was_tried(infra, database_url, topic_prefix):
    async with simulators() as sims, aiohttp.ClientSession() as http, serving(sync_app(settings(
            SyncSettings, infra, database_url, topic_prefix, scheduler_tick_seconds=60))) as url:
        api = Api(http, url)
        body = {"username": PSA_USER, "secret": PSA_SECRET, "integration_code": PSA_CODE,
                "base_url": f"{sims.psa.url}/elsewhere/"}
        assert (await api.send("PUT", "/v1/integrations/autotask", body))[0] == 200
        got, result = await api.send("POST", "/v1/integrations/autotask/test")
        assert got == 200 and result["ok"] is False
        assert f"{sims.psa.url}/elsewhere/atservicesrest/v1.0/zoneInformation" in result["reason"], result
