"""The shared package's small parts: client factories, money, redaction, secrets, auth, paging."""
from __future__ import annotations

from decimal import Decimal

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from billing_shared.kafka.clients import make_consumer, make_producer
from billing_shared.logging import redact_secrets
from billing_shared.money import money, parse_decimal, parse_money
from billing_shared.psa.zone import zone_lookup_base
from billing_shared.secrets import SecretBox, mask, new_key
from billing_shared.settings import ServiceSettings
from billing_shared.web.app import create_app, json_ok
from billing_shared.web.paging import decode_cursor, encode_cursor
from billing_shared.web.routes import ApiRoutes


async def test_producers_are_idempotent_and_wait_for_every_replica():
    producer = make_producer("127.0.0.1:1")
    try:
        assert producer._sender._acks == -1  # acks="all"
        assert producer._txn_manager is not None  # idempotence on: aiokafka keeps sequence numbers
    finally:
        await producer.stop()


async def test_consumers_commit_by_hand_and_read_only_committed_records_from_the_earliest():
    consumer = make_consumer("127.0.0.1:1", "group", "topic")
    try:
        assert consumer._enable_auto_commit is False
        assert consumer._isolation_level == "read_committed"
        assert consumer._auto_offset_reset == "earliest"
    finally:
        await consumer.stop()


@pytest.mark.parametrize("raw, expected", [("500", "500.00"), ("0.1", "0.10"), (12, "12.00"), (" 3.50 ", "3.50")])
def test_money_accepts_decimal_strings_and_ints(raw, expected):
    assert str(parse_money(raw)) == expected


@pytest.mark.parametrize("raw", [0.1, "1.005", "abc", "NaN", "Infinity", True, None, "1e30", "1E+2", "-inf", "sNaN",
                                 "1000000000000", "-1000000000000.00", 10**12, Decimal("1e30"), Decimal("NaN"),
                                 "1_000", "0x10", "", " ", "9" * 5000])
def test_money_refuses_floats_exponents_extra_places_huge_amounts_and_junk(raw):
    with pytest.raises(ValueError):  # only ValueError: pydantic turns it into a validation error
        parse_money(raw)


def test_money_takes_the_largest_amount_a_numeric_14_2_column_holds():
    assert str(parse_money("999999999999.99")) == "999999999999.99"


@pytest.mark.parametrize("raw", ["1e30", "NaN", "1.12345678901", "1000000000000", 0.5])
def test_quantities_are_plain_decimals_too(raw):
    with pytest.raises(ValueError):
        parse_decimal(raw)


@pytest.mark.parametrize("path", ["", "/", "/atservicesrest", "/ATServicesRest/", "/atservicesrest/v1.0/",
                                  "/AtServicesRest// "])
def test_a_psa_base_url_is_a_root_or_the_rest_path_alike(path):
    assert zone_lookup_base(f" http://127.0.0.1:9101{path}").lower() == "http://127.0.0.1:9101/atservicesrest/"


def test_redaction_hides_secrets_and_card_numbers():
    out = redact_secrets(None, "info", {
        "event": "charging 4111 1111 1111 1111 now", "private_key": "sk_live_123", "nested": {"Secret": "x"},
        "amount": "500.00",
    })
    assert out["private_key"] == "****" and out["nested"]["Secret"] == "****"
    assert "4111" not in out["event"] and out["amount"] == "500.00"


def test_secrets_are_sealed_and_masked():
    box = SecretBox(new_key())
    sealed = box.seal("sim-private-key")
    assert b"sim-private-key" not in sealed and box.open(sealed) == "sim-private-key"
    assert mask("sim-private-key") == "****-key" and mask(None) is None
    with pytest.raises(ValueError):
        SecretBox(new_key()).open(sealed)


def test_cursors_round_trip_and_garbage_is_a_clear_error():
    assert decode_cursor(encode_cursor(["autotask:1", 3])) == ["autotask:1", 3]
    from billing_shared.web.errors import ApiError

    with pytest.raises(ApiError) as caught:
        decode_cursor("%%%")
    assert caught.value.code == "invalid_request"


@pytest.fixture
async def client():
    routes = ApiRoutes()

    @routes.get("/v1/things", summary="things", roles=("manager",))
    async def things(request: web.Request) -> web.Response:
        return json_ok({"amount": str(money("5"))})

    settings = ServiceSettings(api_tokens='[{"token": "m", "role": "manager"}, {"token": "a", "role": "admin"},'
                                          '{"token": "c", "role": "client", "organization_id": "o1"}]')
    async with TestClient(TestServer(create_app("t", settings, routes))) as c:
        yield c


async def test_no_token_is_401_and_the_wrong_role_is_403_in_the_contract_shape(client):
    response = await client.get("/v1/things")
    assert response.status == 401 and (await response.json())["error"]["code"] == "unauthorized"
    response = await client.get("/v1/things", headers={"Authorization": "Bearer c"})
    assert response.status == 403 and (await response.json())["error"]["code"] == "forbidden"
    for token in ("m", "a"):  # admin may do what a manager may
        response = await client.get("/v1/things", headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200 and await response.json() == {"amount": "5.00"}


async def test_unknown_routes_and_openapi_and_metrics(client):
    response = await client.get("/v1/nothing", headers={"Authorization": "Bearer m"})
    assert response.status == 404 and (await response.json())["error"]["code"] == "not_found"
    spec = await (await client.get("/openapi.json")).json()
    assert spec["paths"]["/v1/things"]["get"]["summary"] == "things"
    metrics = await (await client.get("/metrics")).text()
    assert "billing_http_request_seconds" in metrics


async def test_health_is_503_naming_the_dependency_that_does_not_answer():
    from billing_shared.web.app import HEALTH_CHECKS

    async def fine() -> None:
        return None

    async def down() -> None:
        raise ConnectionRefusedError("no broker")

    app = create_app("t", ServiceSettings(), ApiRoutes())
    app[HEALTH_CHECKS].update(database=fine, kafka=down)
    async with TestClient(TestServer(app)) as c:
        response = await c.get("/health")
        assert response.status == 503
        assert (await response.json())["checks"] == {"database": "ok", "kafka": "down: ConnectionRefusedError"}
        app[HEALTH_CHECKS]["kafka"] = fine
        assert (await c.get("/health")).status == 200
