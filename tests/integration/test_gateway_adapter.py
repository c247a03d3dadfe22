"""NmiGateway against the gateway simulator (its contract tests), plus the
failure classes against small misbehaving servers, and webhook signatures."""

from __future__ import annotations

import time
from decimal import Decimal

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from billing_payments.adapters.gateway import (
    GatewayOutcomeUnknown,
    GatewayRejected,
    GatewayUnavailable,
    NmiGateway,
    VaultEntry,
    reason_for,
)
from billing_payments.adapters.gateway_webhooks import (
    InvalidSignature,
    parse_webhook,
    verify_signature,
)
from billing_simulators.gateway import GatewaySimConfig, create_app
from billing_simulators.gateway.webhooks import sign

pytestmark = pytest.mark.timeout(30)

KEY = "sim-private-key"
SIGNING_KEY = "dev-signing-key"
USD = "USD"


@pytest.fixture
async def received():
    deliveries: list[tuple[bytes, str | None]] = []

    async def receive(request: web.Request) -> web.Response:
        deliveries.append((await request.read(), request.headers.get("Webhook-Signature")))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/v1/webhooks/gateway", receive)
    async with TestServer(app) as server:
        yield deliveries, str(server.make_url("/v1/webhooks/gateway"))


@pytest.fixture
async def sim(received):
    # A short hold keeps the timeout test (and the server's shutdown) quick.
    config = GatewaySimConfig(webhook_url=received[1], timeout_hold_seconds=1.5)
    async with TestServer(create_app(config)) as server:
        yield server


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def make_gateway(http: aiohttp.ClientSession, base_url: str, key: str = KEY,
                 timeout: float = 5.0) -> NmiGateway:
    return NmiGateway(http, base_url, key, timeout_seconds=timeout, retry_delays=(0.01, 0.02))


@pytest.fixture
def gateway(sim, http) -> NmiGateway:
    return make_gateway(http, str(sim.make_url("/")))


async def sim_json(http: aiohttp.ClientSession, sim: TestServer, method: str, path: str,
                   body: object = None):
    async with http.request(method, sim.make_url(path), json=body) as response:
        assert response.status == 200
        return await response.json()


async def rows_by_id(http, sim) -> dict[str, dict]:
    return {row["transaction_id"]: row for row in await sim_json(http, sim, "GET", "/_sim/transactions")}


# -- sale outcomes ------------------------------------------------------------

async def test_approved_sale(gateway: NmiGateway, http, sim):
    result = await gateway.sale("pay-1", Decimal("500.00"), USD, payment_token="tok_visa_approved")

    assert result.approved and result.outcome == "approved"
    assert (result.response_code, result.reason) == (100, None)
    assert result.transaction_id and result.transaction_id.isdigit()
    row = (await rows_by_id(http, sim))[result.transaction_id]
    assert (row["order_id"], row["amount"], row["condition"]) == ("pay-1", "500.00", "pendingsettlement")


async def test_declined_sale_has_a_reason(gateway: NmiGateway):
    result = await gateway.sale("pay-2", Decimal("10.00"), USD, payment_token="tok_visa_declined")

    assert result.outcome == "declined" and not result.approved
    assert result.response_code == 200
    assert result.reason == "declined by the card issuer"
    assert result.response_text == "DECLINE"


@pytest.mark.parametrize(("card", "code", "reason"), [
    ("4000000000009995", 202, "insufficient funds"),
    ("4000000000000069", 223, "expired card"),
])
async def test_tokenized_declines_map_to_clear_reasons(gateway, http, sim, card, code, reason):
    token = await sim_json(http, sim, "POST", "/_sim/tokens", {"ccnumber": card, "ccexp": "1229"})

    result = await gateway.sale("pay-3", Decimal("10.00"), USD, payment_token=token["token"])

    assert (result.outcome, result.response_code, result.reason) == ("declined", code, reason)


async def test_unknown_token_is_an_error_outcome(gateway: NmiGateway, http, sim):
    result = await gateway.sale("pay-4", Decimal("10.00"), USD, payment_token="tok_nope")

    assert (result.outcome, result.response_code) == ("error", 300)
    assert result.reason == "rejected by the gateway: Invalid Payment Token"
    assert result.transaction_id is None
    assert await rows_by_id(http, sim) == {}


async def test_echeck_sale(gateway: NmiGateway, http, sim):
    result = await gateway.sale("pay-5", Decimal("300.00"), USD,
                                payment_token="tok_echeck_approved", method_type="echeck")

    assert result.approved
    found = await gateway.get_transaction(result.transaction_id)
    assert (found.method_type, found.last4, found.brand) == ("echeck", "3123", None)


async def test_sale_needs_decimal_money_and_one_method(gateway: NmiGateway):
    with pytest.raises(ValueError):
        await gateway.sale("p", 10.0, USD, payment_token="tok_visa_approved")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        await gateway.sale("p", Decimal("1.001"), USD, payment_token="tok_visa_approved")
    with pytest.raises(ValueError):
        await gateway.sale("p", Decimal("1.00"), USD)
    with pytest.raises(ValueError):
        await gateway.sale("p", Decimal("1.00"), USD, payment_token="t", vault_id="v")


# -- keys ---------------------------------------------------------------------

async def test_bad_security_key(http, sim):
    gateway = make_gateway(http, str(sim.make_url("/")), key="not-the-key")

    sale = await gateway.sale("pay-6", Decimal("5.00"), USD, payment_token="tok_visa_approved")
    keys = await gateway.check_keys()
    with pytest.raises(GatewayRejected) as rejected:
        await gateway.find_by_order_id("pay-6")

    assert (sale.outcome, sale.response_code, sale.reason) == ("error", 300, "invalid security key")
    assert keys == (False, "invalid security key")
    assert rejected.value.reason == "invalid security key"
    assert await rows_by_id(http, sim) == {}


async def test_good_security_key(gateway: NmiGateway):
    assert await gateway.check_keys() == (True, None)


# -- vault --------------------------------------------------------------------

async def test_vault_add_then_sale_by_vault_id_then_delete(gateway: NmiGateway, http, sim):
    entry = await gateway.add_to_vault("tok_visa_approved")

    assert entry == VaultEntry(vault_id=entry.vault_id, brand="visa", last4="1111",
                               exp_month=12, exp_year=2029, method_type="credit_card")
    sale = await gateway.sale("pay-7", Decimal("250.00"), USD, vault_id=entry.vault_id)
    assert sale.approved
    assert (await rows_by_id(http, sim))[sale.transaction_id]["customer_vault_id"] == entry.vault_id

    await gateway.delete_from_vault(entry.vault_id)
    await gateway.delete_from_vault(entry.vault_id)  # already gone: still fine
    after = await gateway.sale("pay-8", Decimal("1.00"), USD, vault_id=entry.vault_id)
    assert after.outcome == "error"
    assert await gateway.get_vault_entry(entry.vault_id) is None


async def test_vault_keeps_the_stored_methods_behaviour(gateway: NmiGateway):
    declining = await gateway.add_to_vault("tok_visa_declined")
    echeck = await gateway.add_to_vault("tok_echeck_approved")

    declined = await gateway.sale("pay-9", Decimal("5.00"), USD, vault_id=declining.vault_id)

    assert (declining.last4, declined.outcome) == ("0002", "declined")
    assert (echeck.method_type, echeck.brand, echeck.last4, echeck.exp_month) == \
        ("echeck", None, "3123", None)


async def test_vault_add_with_a_bad_token_is_rejected(gateway: NmiGateway):
    with pytest.raises(GatewayRejected) as rejected:
        await gateway.add_to_vault("tok_nope")
    assert rejected.value.response_code == 300


# -- refund and void ----------------------------------------------------------

async def test_partial_refund_then_over_refund_is_rejected(gateway: NmiGateway, http, sim):
    sale = await gateway.sale("pay-10", Decimal("500.00"), USD, payment_token="tok_visa_approved")

    partial = await gateway.refund(sale.transaction_id, Decimal("200.00"))
    over = await gateway.refund(sale.transaction_id, Decimal("300.01"))
    rest = await gateway.refund(sale.transaction_id)

    assert partial.approved and rest.approved
    assert (over.outcome, over.response_code) == ("error", 300)
    assert over.reason.startswith("rejected by the gateway: Refund amount may not exceed")
    assert "REFID" not in over.reason
    found = await gateway.find_by_order_id("pay-10")
    assert sorted((t.kind, t.amount) for t in found) == [
        ("refund", Decimal("200.00")), ("refund", Decimal("300.00")), ("sale", Decimal("500.00"))]
    refund_row = (await rows_by_id(http, sim))[partial.transaction_id]
    assert refund_row["original_transaction_id"] == sale.transaction_id


async def test_void_before_settlement_cancels(gateway: NmiGateway, http, sim):
    sale = await gateway.sale("pay-11", Decimal("80.00"), USD, payment_token="tok_visa_approved")

    voided = await gateway.void(sale.transaction_id)

    assert voided.approved and voided.transaction_id == sale.transaction_id
    [found] = await gateway.find_by_order_id("pay-11")
    assert found.condition == "canceled"
    assert [a.action_type for a in found.actions] == ["sale", "void"]


async def test_void_after_settlement_is_refused_but_refund_works(gateway: NmiGateway, http, sim):
    sale = await gateway.sale("pay-12", Decimal("80.00"), USD, payment_token="tok_visa_approved")
    await sim_json(http, sim, "POST", "/_sim/settle")

    voided = await gateway.void(sale.transaction_id)
    refunded = await gateway.refund(sale.transaction_id, Decimal("80.00"))

    assert voided.outcome == "error"
    assert refunded.approved
    found = await gateway.get_transaction(sale.transaction_id)
    assert found.condition == "complete"


async def test_refund_without_amount_refunds_the_rest_of_a_settled_sale(gateway: NmiGateway, http, sim):
    sale = await gateway.sale("pay-24", Decimal("120.00"), USD, payment_token="tok_visa_approved")
    await sim_json(http, sim, "POST", "/_sim/settle")
    await gateway.refund(sale.transaction_id, Decimal("20.00"))

    rest = await gateway.refund(sale.transaction_id)
    again = await gateway.refund(sale.transaction_id)

    assert rest.approved and again.outcome == "error"
    assert (await rows_by_id(http, sim))[rest.transaction_id]["amount"] == "100.00"


async def test_full_refund_sends_the_documented_zero_amount(http):
    sent: list[dict[str, str]] = []

    async def transact(request: web.Request) -> web.Response:
        sent.append(dict(await request.post()))
        return web.Response(text="response=1&responsetext=SUCCESS&transactionid=77&type=refund"
                                 "&response_code=100")

    app = web.Application()
    app.router.add_post("/api/transact.php", transact)
    async with TestServer(app) as server:
        gateway = make_gateway(http, str(server.make_url("/")))
        result = await gateway.refund("1234567890")
        await gateway.refund("1234567890", Decimal("5.00"))

    assert result.approved
    assert [(f["type"], f["transactionid"], f["amount"]) for f in sent] == \
        [("refund", "1234567890", "0.00"), ("refund", "1234567890", "5.00")]


# -- the unknown outcome ------------------------------------------------------

async def test_timeout_is_outcome_unknown_and_the_sale_is_found_by_order_id(http, sim):
    gateway = make_gateway(http, str(sim.make_url("/")), timeout=0.5)

    started = time.monotonic()
    with pytest.raises(GatewayOutcomeUnknown) as unknown:
        await gateway.sale("pay-13", Decimal("500.00"), USD, payment_token="tok_visa_timeout")
    assert time.monotonic() - started < 1.4  # the client gave up, not the server
    assert KEY not in str(unknown.value)

    [found] = await gateway.find_by_order_id("pay-13")
    assert (found.kind, found.approved, found.amount, found.condition) == \
        ("sale", True, Decimal("500.00"), "pendingsettlement")


async def test_dropped_connection_is_outcome_unknown(http, sim):
    # A client patient enough to see the simulator drop the connection.
    gateway = make_gateway(http, str(sim.make_url("/")), timeout=5.0)

    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.sale("pay-14", Decimal("5.00"), USD, payment_token="tok_visa_timeout")

    assert len(await gateway.find_by_order_id("pay-14")) == 1


# -- unavailable and misbehaving gateways ------------------------------------

async def test_nothing_listening_is_unavailable(http, unused_tcp_port):
    gateway = make_gateway(http, f"http://127.0.0.1:{unused_tcp_port}")

    with pytest.raises(GatewayUnavailable):
        await gateway.sale("pay-15", Decimal("5.00"), USD, payment_token="tok_visa_approved")
    with pytest.raises(GatewayUnavailable):
        await gateway.find_by_order_id("pay-15")
    ok, reason = await gateway.check_keys()
    assert not ok and reason.startswith("gateway unavailable")


@pytest.fixture
async def misbehaving():
    """A server answering every call with a chosen HTTP status, counting calls."""
    state = {"status": 503, "calls": 0}

    async def answer(request: web.Request) -> web.Response:
        state["calls"] += 1
        return web.Response(status=state["status"], text="<html>oops</html>")

    app = web.Application()
    app.router.add_post("/api/{name}", answer)
    async with TestServer(app) as server:
        yield server, state


async def test_http_503_is_unavailable_and_a_sale_is_sent_once(http, misbehaving):
    server, state = misbehaving
    gateway = make_gateway(http, str(server.make_url("/")))

    with pytest.raises(GatewayUnavailable):
        await gateway.sale("pay-16", Decimal("5.00"), USD, payment_token="tok_visa_approved")
    assert state["calls"] == 1


async def test_http_502_on_a_sale_is_outcome_unknown_never_retried(http, misbehaving):
    server, state = misbehaving
    state["status"] = 502
    gateway = make_gateway(http, str(server.make_url("/")))

    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.sale("pay-17", Decimal("5.00"), USD, payment_token="tok_visa_approved")
    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.refund("1234567890", Decimal("1.00"))
    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.void("1234567890")
    assert state["calls"] == 3


async def test_reads_and_vault_deletes_are_retried(http, misbehaving):
    server, state = misbehaving
    state["status"] = 502
    gateway = make_gateway(http, str(server.make_url("/")))

    with pytest.raises(GatewayUnavailable):
        await gateway.find_by_order_id("pay-18")
    assert state["calls"] == 3
    with pytest.raises(GatewayUnavailable):
        await gateway.delete_from_vault("123")
    assert state["calls"] == 6


async def test_unreadable_sale_reply_is_outcome_unknown(http, misbehaving):
    server, state = misbehaving
    state["status"] = 200  # answers HTML, not name=value pairs
    gateway = make_gateway(http, str(server.make_url("/")))

    with pytest.raises(GatewayOutcomeUnknown):
        await gateway.sale("pay-19", Decimal("5.00"), USD, payment_token="tok_visa_approved")


async def test_security_key_never_reaches_logs_messages_or_repr(http, misbehaving, unused_tcp_port):
    server, state = misbehaving
    secret = "very-secret-key-123"
    failing = [make_gateway(http, str(server.make_url("/")), key=secret),
               make_gateway(http, f"http://127.0.0.1:{unused_tcp_port}", key=secret)]
    messages = []

    with structlog.testing.capture_logs() as logs:
        for status in (502, 503):
            state["status"] = status
            for gateway in failing:
                for call in (gateway.sale("p", Decimal("1.00"), USD, payment_token="t"),
                             gateway.find_by_order_id("p")):
                    try:
                        await call
                    except Exception as exc:  # noqa: BLE001 - any failure's text is checked
                        messages.append(f"{exc!s} {exc!r}")

    assert len(messages) == 8
    text = " ".join(messages) + repr(logs) + " ".join(repr(g) for g in failing)
    assert secret not in text


def test_response_codes_map_to_human_reasons():
    assert reason_for("1", 100, "SUCCESS") is None
    assert reason_for("2", 202, "Insufficient funds") == "insufficient funds"
    assert reason_for("2", 223, "Expired card") == "expired card"
    assert reason_for("3", 300, "Authentication Failed") == "invalid security key"
    assert reason_for("3", 300, "Duplicate transaction REFID:12345") == \
        "rejected by the gateway: Duplicate transaction"
    assert reason_for("2", 260, "Pick up card REFID:9") == "declined: Pick up card"
    assert reason_for("3", 411, "") == "merchant account inactive"


# -- webhooks -----------------------------------------------------------------

async def test_settlement_webhooks_verify_and_parse(gateway: NmiGateway, http, sim, received):
    deliveries, _ = received
    ok = await gateway.sale("pay-20", Decimal("500.00"), USD, payment_token="tok_visa_approved")
    bad = await gateway.sale("pay-21", Decimal("75.00"), USD, payment_token="tok_visa_unsettled")
    ret = await gateway.sale("pay-22", Decimal("54.04"), USD, payment_token="tok_echeck_return",
                             method_type="echeck")

    result = await sim_json(http, sim, "POST", "/_sim/settle")

    assert result["settled"] == 3 and {w["status"] for w in result["webhooks"]} == {200}
    events = {}
    for body, header in deliveries:
        verify_signature(body, header, SIGNING_KEY)
        event = parse_webhook(body)
        events[event.event_body.order_id] = event
    assert events["pay-20"].event_type == "settlement.batch.complete"
    assert not events["pay-20"].changes_money
    assert (events["pay-21"].event_type, events["pay-21"].event_body.condition) == \
        ("settlement.batch.failure", "failed")
    assert events["pay-21"].event_body.transaction_id == bad.transaction_id
    assert events["pay-22"].event_type == "transaction.check.status.return"
    assert events["pay-22"].event_body.requested_amount == Decimal("54.04")
    assert events["pay-22"].changes_money and events["pay-21"].changes_money
    assert ok.transaction_id == events["pay-20"].event_body.transaction_id
    assert (await gateway.get_transaction(ret.transaction_id)).condition == "failed"


async def test_chargeback_webhook_verifies(gateway: NmiGateway, http, sim, received):
    deliveries, _ = received
    sale = await gateway.sale("pay-23", Decimal("99.99"), USD, payment_token="tok_visa_approved")

    await sim_json(http, sim, "POST", f"/_sim/transactions/{sale.transaction_id}/chargeback")

    [(body, header)] = deliveries
    assert verify_signature(body, header, SIGNING_KEY)
    event = parse_webhook(body)
    assert (event.event_type, event.event_body.order_id) == ("chargeback.batch.complete", "pay-23")
    assert event.event_body.action.amount == Decimal("99.99")


def test_signature_is_checked_strictly():
    body = b'{"event_id":"e","event_type":"x","event_body":{"transaction_id":"1"}}'
    header = sign(body, SIGNING_KEY, nonce="abc123")
    assert verify_signature(body, header, SIGNING_KEY) == "abc123"
    nonce_part, sig_part = header.split(",")
    for bad in (None, "", "garbage", f"{sig_part},{nonce_part}", f" {header}", f"{header},x=1",
                header.replace("s=", "s=0"), header[:-1], f"t=,{sig_part}"):
        with pytest.raises(InvalidSignature):
            verify_signature(body, bad, SIGNING_KEY)
    with pytest.raises(InvalidSignature):
        verify_signature(body + b" ", header, SIGNING_KEY)  # tampered body
    with pytest.raises(InvalidSignature):
        verify_signature(body, header, "another-key")
    with pytest.raises(InvalidSignature):
        verify_signature(body, sign(body, "", nonce="n"), "")
    # Uppercase hex is the same signature.
    assert verify_signature(body, f"{nonce_part},{sig_part.upper().replace('S=', 's=')}",
                            SIGNING_KEY) == "abc123"
