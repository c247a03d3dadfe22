"""Payment-processing settings, refunds through the gateway, an unreachable gateway, and a scan of
everything the system wrote for card numbers and keys."""
from __future__ import annotations

import json
import re
import subprocess
import uuid

import asyncpg
import pytest

from devstack.postgres import POSTGRES_BIN_PATH
from tests.e2e.conftest import ADMIN, CLIENT
from tests.e2e.payments_support import ACTIVE_SETTINGS, new_world
from tests.support import eventually, read_topic

pytestmark = pytest.mark.timeout(120)
PATH = "/v1/settings/payment-processing"


def code(reply) -> tuple[int, str]:
    return reply.status, reply.body["error"]["code"]


async def test_settings_start_inactive_keep_keys_secret_and_lock_the_currency(infra, tmp_path):
    world = await new_world(infra, tmp_path)
    try:
        a = await world.invoice("20.00")
        assert code(await world.pay(a)) == (409, "processing_inactive")
        initial = await world.call("GET", PATH, ADMIN)
        assert initial.body["active"] is False and initial.body["private_key"] is None
        no_types = await world.call("PUT", PATH, ADMIN, {**ACTIVE_SETTINGS, "payment_types": {}})
        assert code(no_types) == (422, "invalid_request")
        assert code(await world.call("PUT", PATH, ADMIN, {**ACTIVE_SETTINGS, "currency": "XYZ"})) == (422, "invalid_request")

        put = await world.call("PUT", PATH, ADMIN, {**ACTIVE_SETTINGS, "accept_payments_in": ["autotask"]})
        assert put.status == 200
        assert (put.body["private_key"], put.body["public_key"]) == ("****-key", "****-key")
        assert "sim-private-key" not in json.dumps(put.body)
        conn = await asyncpg.connect(world.database_url)
        try:
            sealed = await conn.fetchval("SELECT private_key FROM payments.processing_settings")
        finally:
            await conn.close()
        assert b"sim-private-key" not in sealed

        assert code(await world.pay(a, as_=CLIENT)) == (422, "environment_not_enabled")
        assert (await world.pay(a)).status == 201
        assert code(await world.call("PUT", PATH, ADMIN, {"currency": "CAD"})) == (409, "currency_locked")
        keep_keys = await world.call("PUT", PATH, ADMIN, {"refund_via_gateway": True})  # keys omitted: kept
        assert keep_keys.status == 200 and keep_keys.body["private_key"] == "****-key"

        assert (await world.call("POST", PATH + "/test", ADMIN)).body == {"ok": True, "reason": None}
        await world.call("PUT", PATH, ADMIN, {"private_key": "wrong-key"})
        tested = await world.call("POST", PATH + "/test", ADMIN)
        assert tested.body["ok"] is False and tested.body["reason"]
    finally:
        await world.stop()


async def test_with_refund_via_gateway_a_refund_is_issued_at_the_gateway(infra, tmp_path):
    world = await new_world(infra, tmp_path)
    try:
        await world.configure(refund_via_gateway=True)
        a, b = await world.invoice("500.00"), await world.invoice("300.00")
        p1 = (await world.pay(a)).body
        await world.void(a)
        await eventually(lambda: _unapplied(world, p1["payment_id"]), timeout=30)
        applied = await world.call("POST", f"/v1/payments/{p1['payment_id']}/apply", body={"invoice_id": b})
        assert applied.status == 200 and applied.body["refund_amount"] == "200.00"
        refunds = [t for t in await world.sim("GET", "/_sim/transactions") if t["type"] == "refund"]
        assert [(r["order_id"], r["amount"]) for r in refunds] == [(p1["payment_id"], "200.00")]
        refund_row = applied.body["transactions"][-1]
        stored = await world.payment(p1["payment_id"])
        assert stored["transactions"][-1]["transaction_id"] == refunds[0]["transaction_id"]
        assert refund_row["type"] == "refund"
        p2 = (await world.pay(await world.invoice("9.00"))).body
        cancelled = await world.call("POST", f"/v1/payments/{p2['payment_id']}/cancel")
        assert cancelled.status == 200  # voided at the gateway first
        [sale] = await world.sales_of(p2["payment_id"])
        assert sale["condition"] == "canceled"
    finally:
        await world.stop()


async def test_an_unreachable_gateway_is_gateway_unavailable_and_the_key_can_be_retried(infra, tmp_path):
    world = await new_world(infra, tmp_path, GATEWAY_BASE_URL="http://127.0.0.1:9")
    try:
        await world.configure()
        a = await world.invoice("12.00")
        key = str(uuid.uuid4())
        assert code(await world.pay(a, key=key)) == (503, "gateway_unavailable")
        assert code(await world.pay(a, key=key)) == (503, "gateway_unavailable")  # not a stored answer
        assert (await world.invoice_view(a))["payable"] is True
        tested = await world.call("POST", PATH + "/test", ADMIN)
        assert tested.body["ok"] is False
    finally:
        await world.stop()


# Bounded by non-alphanumerics, as a number in text is: digit runs inside hex or base64 blobs
# (sealed keys in a pg_dump) are not card numbers.
CARD_LIKE = re.compile(r"(?<![0-9A-Za-z])[3-6](?:[0-9][ -]?){11,17}[0-9](?![0-9A-Za-z])")


def luhn(digits: str) -> bool:
    total = sum(int(d) if i % 2 == 0 else (int(d) * 2 - 9 if int(d) > 4 else int(d) * 2)
                for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def secrets_in(text: str) -> list[str]:
    found = [m for m in CARD_LIKE.findall(text) if luhn(re.sub(r"[ -]", "", m))]
    return found + [k for k in ("sim-private-key", "wrong-key") if k in text]


async def test_logs_topics_and_the_database_hold_no_card_number_and_no_private_key(infra, tmp_path):
    world = await new_world(infra, tmp_path)
    try:
        await world.configure()
        token = (await world.sim("POST", "/_sim/tokens", {"ccnumber": "4111111111111111", "ccexp": "1229",
                                                           "cvv": "123"}))["token"]
        paid = await world.pay(await world.invoice("33.00"), token,
                               payment_method={"token": token, "save_to_wallet": True})
        assert paid.status == 201 and paid.body["method"]["last4"] == "1111"
        await world.pay(await world.invoice("5.00"), payment_method={"token": "4111 1111 1111 1111"})
        await world.call("PUT", PATH, ADMIN, {"private_key": "sim-private-key"})
        await world.pay(await world.invoice("6.00"), "tok_visa_declined")

        dumps = []
        for topic in world.names.all():
            dumps += [r.value.decode(errors="replace") for r in
                      await read_topic(world.bootstrap, topic, count=0, timeout=3, settle=0.5)]
        assert any("payment.succeeded" in d for d in dumps)
        logs = [p.read_text(errors="replace") for p in world.log_dir.glob("*.log")]
        dump = subprocess.run([str(POSTGRES_BIN_PATH / "pg_dump"), world.database_url], capture_output=True,
                              text=True, check=True, timeout=60).stdout
        assert "payment_transactions" in dump
        for name, text in [("topics", "\n".join(dumps)), ("logs", "\n".join(logs)), ("pg_dump", dump)]:
            assert secrets_in(text) == [], f"{name} holds secrets: {secrets_in(text)[:3]}"
    finally:
        await world.stop()


async def _unapplied(world, payment_id: str):
    p = await world.payment(payment_id)
    return p if p["unapplied_amount"] != "0.00" else None
