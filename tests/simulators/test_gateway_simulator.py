"""The gateway simulator over raw HTTP: what the real NMI API would answer.

The adapter's contract tests (tests/integration/test_gateway_adapter.py) drive
the same app through NmiGateway; these cover what the adapter has no method
for: the /_sim/ controls, the XML and query-string shapes, webhook delivery.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from billing_payments.adapters.gateway_webhooks import (
    InvalidSignature,
    parse_webhook,
    verify_signature,
)
from billing_simulators.gateway import GatewaySimConfig, create_app

pytestmark = pytest.mark.timeout(30)

KEY = "sim-private-key"
SIGNING_KEY = "test-signing-key"


@pytest.fixture
async def received():
    """A stand-in payments service that records every webhook delivery."""
    deliveries: list[tuple[bytes, str | None]] = []

    async def receive(request: web.Request) -> web.Response:
        deliveries.append((await request.read(), request.headers.get("Webhook-Signature")))
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/v1/webhooks/gateway", receive)
    async with TestServer(app) as server:
        deliveries_url = str(server.make_url("/v1/webhooks/gateway"))
        yield deliveries, deliveries_url


@pytest.fixture
async def sim(received):
    config = GatewaySimConfig(webhook_url=received[1], webhook_signing_key=SIGNING_KEY,
                              timeout_hold_seconds=1.0)
    async with TestServer(create_app(config)) as server:
        yield server


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


class Sim:
    """Small helpers around raw calls, so each test reads as its scenario."""

    def __init__(self, server: TestServer, http: aiohttp.ClientSession) -> None:
        self.server, self.http = server, http

    async def transact(self, **fields: str) -> dict[str, str]:
        fields.setdefault("security_key", KEY)
        async with self.http.post(self.server.make_url("/api/transact.php"), data=fields) as r:
            assert r.status == 200
            return dict(parse_qsl(await r.text(), keep_blank_values=True))

    async def query(self, **fields: str) -> ET.Element:
        fields.setdefault("security_key", KEY)
        async with self.http.post(self.server.make_url("/api/query.php"), data=fields) as r:
            assert r.status == 200
            return ET.fromstring(await r.text())

    async def sale(self, token: str, amount: str, order_id: str) -> dict[str, str]:
        return await self.transact(type="sale", payment_token=token, amount=amount,
                                   orderid=order_id)

    async def call(self, method: str, path: str, body: object = None) -> tuple[int, object]:
        async with self.http.request(method, self.server.make_url(path), json=body) as r:
            return r.status, await r.json()

    async def transactions(self) -> dict[str, dict]:
        _, rows = await self.call("GET", "/_sim/transactions")
        return {row["transaction_id"]: row for row in rows}


@pytest.fixture
def api(sim, http) -> Sim:
    return Sim(sim, http)


async def test_approved_sale_answers_the_nmi_query_string(api: Sim):
    reply = await api.sale("tok_visa_approved", "500.00", "pay-1")

    assert reply["response"] == "1"
    assert reply["responsetext"] == "SUCCESS"
    assert reply["response_code"] == "100"
    assert reply["type"] == "sale" and reply["orderid"] == "pay-1"
    assert len(reply["authcode"]) == 6 and reply["transactionid"].isdigit()
    assert {"avsresponse", "cvvresponse"} <= reply.keys()
    row = (await api.transactions())[reply["transactionid"]]
    assert row == {
        "transaction_id": reply["transactionid"], "order_id": "pay-1", "type": "sale",
        "amount": "500.00", "currency": "USD", "condition": "pendingsettlement",
        "payment_type": "creditcard", "customer_vault_id": None,
        "original_transaction_id": None, "last4": "1111",
    }


async def test_declined_token_is_recorded_as_failed(api: Sim):
    reply = await api.sale("tok_visa_declined", "12.00", "pay-2")

    assert (reply["response"], reply["response_code"], reply["responsetext"]) == ("2", "200", "DECLINE")
    assert (await api.transactions())[reply["transactionid"]]["condition"] == "failed"


async def test_wrong_or_missing_security_key_fails_authentication(api: Sim):
    for key in ("wrong-key", ""):
        reply = await api.transact(security_key=key, type="sale",
                                   payment_token="tok_visa_approved", amount="1.00")
        assert (reply["response"], reply["responsetext"], reply["response_code"]) == \
            ("3", "Authentication Failed", "300")
    root = await api.query(security_key="wrong-key", order_id="x")
    assert root.findtext("error_response") == "Authentication Failed"
    assert await api.transactions() == {}


@pytest.mark.parametrize("amount", ["0", "-5.00", "1.005", "abc", ""])
async def test_invalid_amount_is_an_error_not_a_charge(api: Sim, amount: str):
    reply = await api.sale("tok_visa_approved", amount, "pay-3")

    assert (reply["response"], reply["response_code"]) == ("3", "300")
    assert await api.transactions() == {}


async def test_payment_type_must_match_the_method(api: Sim):
    reply = await api.transact(type="sale", payment_token="tok_echeck_approved", amount="5.00",
                               payment="creditcard")
    assert reply["response"] == "3"
    reply = await api.transact(type="sale", payment_token="tok_echeck_approved", amount="5.00",
                               payment="check")
    assert reply["response"] == "1"


async def test_query_by_order_id_returns_masked_transaction_xml(api: Sim):
    sale = await api.sale("tok_visa_approved", "40.00", "pay-4")
    await api.sale("tok_visa_approved", "1.00", "other-order")

    root = await api.query(order_id="pay-4")

    assert root.tag == "nm_response"
    [txn] = root.findall("transaction")
    assert txn.findtext("transaction_id") == sale["transactionid"]
    assert txn.findtext("transaction_type") == "cc"
    assert txn.findtext("condition") == "pendingsettlement"
    assert txn.findtext("cc_number") == "4xxxxxxxxxxx1111"
    [action] = txn.findall("action")
    assert action.findtext("amount") == "40.00"
    assert action.findtext("action_type") == "sale"
    assert action.findtext("success") == "1"
    assert action.findtext("response_code") == "100"
    assert len(action.findtext("date")) == 14


async def test_query_with_no_match_is_an_empty_nm_response(api: Sim):
    async with api.http.post(api.server.make_url("/api/query.php"),
                             data={"security_key": KEY, "order_id": "none"}) as r:
        text = await r.text()
    assert text.strip().endswith("<nm_response></nm_response>")


async def test_query_filters_by_condition_and_transaction_id(api: Sim):
    first = await api.sale("tok_visa_approved", "1.00", "a")
    second = await api.sale("tok_visa_declined", "2.00", "b")

    failed = await api.query(condition="failed")
    both = await api.query(transaction_id=f"{first['transactionid']},{second['transactionid']}")

    assert [t.findtext("order_id") for t in failed.findall("transaction")] == ["b"]
    assert len(both.findall("transaction")) == 2


async def test_vault_query_shows_masked_card_and_check(api: Sim):
    card = await api.transact(customer_vault="add_customer", payment_token="tok_visa_approved")
    check = await api.transact(customer_vault="add_customer", customer_vault_id="mine-1",
                               payment_token="tok_echeck_approved")

    assert (card["response"], card["responsetext"]) == ("1", "Customer Added")
    assert check["customer_vault_id"] == "mine-1"
    root = await api.query(report_type="customer_vault", customer_vault_id=card["customer_vault_id"])
    [customer] = root.findall("customer_vault/customer")
    assert customer.get("id") == card["customer_vault_id"]
    assert (customer.findtext("cc_number"), customer.findtext("cc_exp"),
            customer.findtext("cc_type")) == ("4xxxxxxxxxxx1111", "1229", "visa")
    root = await api.query(report_type="customer_vault", customer_vault_id="mine-1")
    assert root.findtext("customer_vault/customer/check_account") == "xxxxx3123"
    duplicate = await api.transact(customer_vault="add_customer", customer_vault_id="mine-1",
                                   payment_token="tok_visa_approved")
    assert duplicate["response"] == "3"


async def test_tokens_accept_luhn_valid_cards_only(api: Sim):
    status, visa = await api.call("POST", "/_sim/tokens",
                                  {"ccnumber": "4111111111111111", "ccexp": "1229", "cvv": "123"})
    assert status == 200
    assert visa["token"].startswith("tok_")
    assert {k: visa[k] for k in ("brand", "last4", "exp", "type")} == \
        {"brand": "visa", "last4": "1111", "exp": "12/29", "type": "credit_card"}
    assert "4111111111111111" not in json.dumps(visa)

    status, error = await api.call("POST", "/_sim/tokens",
                                   {"ccnumber": "4111111111111112", "ccexp": "1229"})
    assert status == 422 and error["error"]["code"] == "invalid_request"
    status, _ = await api.call("POST", "/_sim/tokens", {"ccnumber": "4111111111111111", "ccexp": "0120"})
    assert status == 422  # expired
    status, master = await api.call("POST", "/_sim/tokens",
                                    {"ccnumber": "5555 5555 5555 4444", "ccexp": "0130"})
    assert (status, master["brand"], master["last4"]) == (200, "mastercard", "4444")


async def test_tokenized_cards_charge_with_their_own_outcome(api: Sim):
    _, good = await api.call("POST", "/_sim/tokens", {"ccnumber": "4111111111111111", "ccexp": "1229"})
    _, bad = await api.call("POST", "/_sim/tokens", {"ccnumber": "4000000000000002", "ccexp": "1229"})

    approved = await api.sale(good["token"], "10.00", "t1")
    declined = await api.sale(bad["token"], "10.00", "t2")
    again = await api.sale(good["token"], "11.00", "t3")  # tokens are reusable here

    assert [approved["response"], declined["response"], again["response"]] == ["1", "2", "1"]


async def test_echeck_tokens_and_a_wrong_tokenization_key(api: Sim):
    status, check = await api.call("POST", "/_sim/tokens", {
        "checkaba": "123123123", "checkaccount": "000123456789", "checkname": "Ann Payer"})
    assert status == 200
    assert (check["type"], check["last4"], check["brand"]) == ("echeck", "6789", None)
    status, _ = await api.call("POST", "/_sim/tokens", {
        "checkaba": "123456789", "checkaccount": "1234", "checkname": "x"})
    assert status == 422  # routing checksum fails
    status, _ = await api.call("POST", "/_sim/tokens", {
        "tokenization_key": "nope", "ccnumber": "4111111111111111", "ccexp": "1229"})
    assert status == 401


async def test_settle_completes_cards_and_signs_each_webhook(api: Sim, received):
    deliveries, _ = received
    sale = await api.sale("tok_visa_approved", "500.00", "pay-10")
    echeck = await api.sale("tok_echeck_approved", "300.00", "pay-11")
    declined = await api.sale("tok_visa_declined", "9.00", "pay-12")

    status, result = await api.call("POST", "/_sim/settle")

    assert status == 200 and result["settled"] == 2
    assert [(w["event_type"], w["transaction_id"], w["status"]) for w in result["webhooks"]] == [
        ("settlement.batch.complete", sale["transactionid"], 200),
        ("transaction.check.status.settle", echeck["transactionid"], 200),
    ]
    rows = await api.transactions()
    assert rows[sale["transactionid"]]["condition"] == "complete"
    assert rows[echeck["transactionid"]]["condition"] == "complete"
    assert rows[declined["transactionid"]]["condition"] == "failed"
    assert len(deliveries) == 2
    for body, header in deliveries:
        nonce = verify_signature(body, header, SIGNING_KEY)
        assert header.startswith(f"t={nonce},s=")
    nonces = {verify_signature(b, h, SIGNING_KEY) for b, h in deliveries}
    assert len(nonces) == 2  # a fresh nonce per delivery
    tampered = deliveries[0][0].replace(b"500.00", b"5.00")
    with pytest.raises(InvalidSignature):
        verify_signature(tampered, deliveries[0][1], SIGNING_KEY)
    _, second = await api.call("POST", "/_sim/settle")
    assert second == {"settled": 0, "webhooks": []}


async def test_webhook_log_keeps_the_exact_bytes_sent(api: Sim, received):
    deliveries, _ = received
    await api.sale("tok_visa_approved", "20.00", "pay-13")
    await api.call("POST", "/_sim/settle")

    _, [logged] = await api.call("GET", "/_sim/webhooks")

    assert (logged["body"].encode(), logged["signature"]) == deliveries[0]
    envelope = json.loads(logged["body"])
    assert envelope["event_id"] == logged["event_id"]
    body = envelope["event_body"]
    assert body["merchant"]["id"] and body["order_id"] == "pay-13"
    assert (body["transaction_type"], body["condition"], body["requested_amount"],
            body["currency"]) == ("cc", "complete", "20.00", "USD")
    assert body["action"] == {**body["action"], "action_type": "settle", "amount": "20.00",
                              "success": "1"}
    assert {"date", "response_text", "response_code"} <= body["action"].keys()


async def test_unsettled_card_fails_settlement_with_a_failure_webhook(api: Sim, received):
    deliveries, _ = received
    sale = await api.sale("tok_visa_unsettled", "75.50", "pay-14")
    assert sale["response"] == "1"

    _, result = await api.call("POST", "/_sim/settle")

    assert [w["event_type"] for w in result["webhooks"]] == ["settlement.batch.failure"]
    event = parse_webhook(deliveries[0][0])
    assert event.event_body.transaction_id == sale["transactionid"]
    assert event.event_body.condition == "failed"
    assert event.event_body.requested_amount == Decimal("75.50")
    assert event.event_body.action.success is False
    assert (await api.transactions())[sale["transactionid"]]["condition"] == "failed"


async def test_returned_echeck_sends_check_status_return(api: Sim, received):
    deliveries, _ = received
    sale = await api.sale("tok_echeck_return", "54.04", "pay-15")

    await api.call("POST", "/_sim/settle")

    event = parse_webhook(deliveries[0][0])
    assert event.event_type == "transaction.check.status.return"
    assert (event.event_body.transaction_type, event.event_body.condition) == ("ck", "failed")
    assert event.event_body.action.action_type == "check_return"
    assert event.event_body.action.amount == Decimal("54.04")
    assert event.event_body.order_id == "pay-15"
    root = await api.query(transaction_id=sale["transactionid"])
    assert [a.findtext("action_type") for a in root.iter("action")] == ["sale", "check_return"]


async def test_chargeback_sends_its_webhook(api: Sim, received):
    deliveries, _ = received
    sale = await api.sale("tok_visa_approved", "120.00", "pay-16")
    await api.call("POST", "/_sim/settle")

    status, result = await api.call("POST", f"/_sim/transactions/{sale['transactionid']}/chargeback")

    assert status == 200
    assert [w["event_type"] for w in result["webhooks"]] == ["chargeback.batch.complete"]
    event = parse_webhook(deliveries[-1][0])
    assert (event.event_body.order_id, event.event_body.action.amount) == ("pay-16", Decimal("120.00"))
    status, _ = await api.call("POST", "/_sim/transactions/0000000000/chargeback")
    assert status == 404


async def test_redelivery_keeps_event_id_with_a_new_nonce(api: Sim, received):
    deliveries, _ = received
    await api.sale("tok_visa_approved", "5.00", "pay-17")
    _, result = await api.call("POST", "/_sim/settle")
    event_id = result["webhooks"][0]["event_id"]

    status, again = await api.call("POST", f"/_sim/webhooks/{event_id}/redeliver")

    assert status == 200 and again["event_id"] == event_id
    (first_body, first_sig), (second_body, second_sig) = deliveries
    assert first_body == second_body and first_sig != second_sig
    assert verify_signature(second_body, second_sig, SIGNING_KEY) != \
        verify_signature(first_body, first_sig, SIGNING_KEY)


async def test_unreachable_receiver_is_recorded_not_raised(api: Sim, unused_tcp_port: int):
    status, _ = await api.call("PUT", "/_sim/config",
                               {"webhook_url": f"http://127.0.0.1:{unused_tcp_port}/hook"})
    assert status == 200
    await api.sale("tok_visa_approved", "5.00", "pay-18")

    status, result = await api.call("POST", "/_sim/settle")

    assert status == 200 and result["settled"] == 1
    assert result["webhooks"][0]["status"] is None


async def test_void_cancels_only_before_settlement(api: Sim):
    before = await api.sale("tok_visa_approved", "30.00", "pay-19")
    after = await api.sale("tok_visa_approved", "31.00", "pay-20")

    voided = await api.transact(type="void", transactionid=before["transactionid"])
    _, settled = await api.call("POST", "/_sim/settle")
    too_late = await api.transact(type="void", transactionid=after["transactionid"])

    assert (voided["response"], voided["transactionid"]) == ("1", before["transactionid"])
    assert settled["settled"] == 1  # the voided sale is not settled
    assert too_late["response"] == "3"
    rows = await api.transactions()
    assert rows[before["transactionid"]]["condition"] == "canceled"
    assert rows[after["transactionid"]]["condition"] == "complete"


async def test_refunds_are_new_transactions_limited_to_what_is_left(api: Sim):
    sale = await api.sale("tok_visa_approved", "100.00", "pay-21")

    partial = await api.transact(type="refund", transactionid=sale["transactionid"], amount="40.00")
    over = await api.transact(type="refund", transactionid=sale["transactionid"], amount="60.01")
    rest = await api.transact(type="refund", transactionid=sale["transactionid"])
    nothing_left = await api.transact(type="refund", transactionid=sale["transactionid"])

    assert [partial["response"], over["response"], rest["response"], nothing_left["response"]] == \
        ["1", "3", "1", "3"]
    rows = await api.transactions()
    refunds = [r for r in rows.values() if r["type"] == "refund"]
    assert sorted(r["amount"] for r in refunds) == ["40.00", "60.00"]
    assert {r["original_transaction_id"] for r in refunds} == {sale["transactionid"]}
    assert {r["order_id"] for r in refunds} == {"pay-21"}


async def test_refund_before_settlement_can_be_forbidden(api: Sim):
    await api.call("PUT", "/_sim/config", {"refund_requires_settlement": True})
    sale = await api.sale("tok_visa_approved", "10.00", "pay-22")

    early = await api.transact(type="refund", transactionid=sale["transactionid"])
    await api.call("POST", "/_sim/settle")
    late = await api.transact(type="refund", transactionid=sale["transactionid"])

    assert (early["response"], late["response"]) == ("3", "1")


async def test_reset_clears_everything_but_the_test_tokens(api: Sim):
    await api.sale("tok_visa_approved", "10.00", "pay-23")
    _, token = await api.call("POST", "/_sim/tokens", {"ccnumber": "4111111111111111", "ccexp": "1229"})
    await api.call("PUT", "/_sim/config", {"latency_ms": 5})

    status, _ = await api.call("POST", "/_sim/reset")

    assert status == 200
    assert await api.transactions() == {}
    assert (await api.call("GET", "/_sim/config"))[1]["latency_ms"] == 0
    assert (await api.sale(token["token"], "1.00", "x"))["response"] == "3"
    assert (await api.sale("tok_visa_approved", "1.00", "x"))["response"] == "1"


async def test_config_latency_slows_api_calls_only(api: Sim):
    status, config = await api.call("PUT", "/_sim/config", {"latency_ms": 300})
    assert status == 200 and config["latency_ms"] == 300
    assert "security_key" not in config and "webhook_signing_key" not in config

    started = time.monotonic()
    await api.sale("tok_visa_approved", "1.00", "slow")
    slow = time.monotonic() - started
    started = time.monotonic()
    await api.transactions()
    fast = time.monotonic() - started

    assert slow >= 0.3 and fast < 0.3


async def test_refund_of_zero_refunds_all_that_is_left_of_the_settled_sale(api: Sim):
    sale = await api.sale("tok_visa_approved", "100.00", "pay-24")
    await api.call("POST", "/_sim/settle")
    partial = await api.transact(type="refund", transactionid=sale["transactionid"], amount="30.00")

    # NMI: "Setting the amount to 0.00 will refund the entire amount".
    rest = await api.transact(type="refund", transactionid=sale["transactionid"], amount="0.00")
    nothing_left = await api.transact(type="refund", transactionid=sale["transactionid"],
                                      amount="0.00")

    assert (partial["response"], rest["response"], rest["type"]) == ("1", "1", "refund")
    assert nothing_left["response"] == "3"
    rows = await api.transactions()
    assert rows[rest["transactionid"]]["amount"] == "70.00"
    assert rows[rest["transactionid"]]["original_transaction_id"] == sale["transactionid"]
    assert sorted(r["amount"] for r in rows.values() if r["type"] == "refund") == ["30.00", "70.00"]


async def test_vault_charge_without_a_type_is_a_sale(api: Sim):
    added = await api.transact(customer_vault="add_customer", payment_token="tok_visa_approved")

    # NMI's "Customer Vault initiated Sale" variables have no `type`.
    charged = await api.transact(customer_vault_id=added["customer_vault_id"], amount="12.00",
                                 orderid="pay-25")
    no_method = await api.transact(amount="12.00", orderid="pay-26")

    assert (charged["response"], charged["type"], charged["orderid"]) == ("1", "sale", "pay-25")
    row = (await api.transactions())[charged["transactionid"]]
    assert (row["type"], row["amount"], row["condition"], row["customer_vault_id"]) == \
        ("sale", "12.00", "pendingsettlement", added["customer_vault_id"])
    assert no_method["response"] == "3"
    assert no_method["responsetext"].startswith("Invalid Transaction Type")
