"""Every refusal of the payments API with its contract code, who may do what, and the wallet."""
from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import ADMIN, CLIENT, MANAGER
from tests.support import eventually

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]


def code(reply) -> tuple[int, str]:
    return reply.status, reply.body["error"]["code"]


async def test_invoices_without_a_number_or_voided_are_not_payable(world):
    unnumbered = await world.invoice("100.00", number=None)
    assert (await world.invoice_view(unnumbered))["payable"] is False
    assert code(await world.pay(unnumbered)) == (409, "invoice_not_payable")
    voided = await world.invoice("100.00")
    await world.void(voided)
    await eventually(lambda: _status(world, voided, "voided"), timeout=30)
    assert code(await world.pay(voided)) == (409, "invoice_not_payable")


async def test_an_invoice_in_another_currency_is_refused(world):
    cad = await world.invoice("100.00", currency="CAD")
    assert code(await world.pay(cad)) == (422, "currency_mismatch")


async def test_a_payer_from_another_organization_is_refused(world):
    await world.contact("autotask:7001", "autotask:999")
    await world.contact("autotask:7002", "autotask:678")
    a = await world.invoice("30.00")

    async def known():
        reply = await world.pay(a, contact_id="autotask:7001")
        return reply if reply.status == 422 else None

    assert code(await eventually(known, timeout=30)) == (422, "contact_not_in_organization")
    paid = await world.pay(a, contact_id="autotask:7002")
    assert paid.status == 201 and paid.body["contact_id"] == "autotask:7002"


async def test_staff_name_the_payer_and_it_is_an_active_contact_the_directory_knows(world):
    a = await world.invoice("20.00")
    assert code(await world.pay(a, contact_id=None)) == (422, "invalid_request")
    assert code(await world.pay(a, contact_id="autotask:7404")) == (422, "contact_not_in_organization")  # unknown
    await world.contact("autotask:7003", "autotask:678", active=False)
    assert code(await world.pay(a, contact_id="autotask:7003")) == (422, "contact_not_in_organization")
    assert (await world.invoice_view(a))["balance"] == "20.00"


@pytest.mark.parametrize("method", [
    {"token": "4111111111111111"},
    {"token": "tok_visa_approved", "card_number": "4000 0000 0000 0002"},
    {"token": "tok_visa_approved", "checkaccount": "123456789", "checkaba": "123123123"},
])
async def test_raw_card_or_account_numbers_are_refused_wherever_they_appear(world, method):
    a = await world.invoice("10.00")
    reply = await world.call("POST", "/v1/payments", MANAGER, {"invoice_id": a, "payment_method": method},
                             {"Idempotency-Key": str(uuid.uuid4())})
    assert code(reply) == (422, "raw_card_data_rejected")
    assert "4111" not in str(reply.body) and "4000" not in str(reply.body)


@pytest.mark.parametrize("body, headers", [
    ({"invoice_id": "autotask:1", "payment_method": {"token": "tok_visa_approved"}}, {}),
    ({"invoice_id": "autotask:1", "amount": "12.345", "payment_method": {"token": "t"}}, None),
    ({"invoice_id": "autotask:1", "amount": 12.5, "payment_method": {"token": "t"}}, None),
    ({"invoice_id": "autotask:1", "payment_method": {"token": "t", "method_id": "m"}}, None),
    ({"invoice_id": "autotask:1", "payment_method": {"token": "t"}, "surprise": True}, None),
    ({"payment_method": {"token": "t"}}, None),
])
async def test_malformed_requests_are_invalid_request(world, body, headers):
    headers = {"Idempotency-Key": str(uuid.uuid4())} if headers is None else headers
    reply = await world.call("POST", "/v1/payments", MANAGER, body, headers)
    assert code(reply) == (422, "invalid_request")


async def test_an_empty_id_is_refused_in_words_about_text_not_items(world):
    """Seen in the API fuzzer's answers: an optional id with a minimum length read "must have at least 1
    items" (pydantic reports such a text field's length as a collection's)."""
    reply = await world.call("POST", "/v1/payments", MANAGER, {"invoice_id": "", "payment_method": {"token": "t"}},
                             {"Idempotency-Key": str(uuid.uuid4())})
    assert code(reply) == (422, "invalid_request")
    assert reply.body["error"]["details"]["fields"] == {"invoice_id": "must have at least 1 characters"}


async def test_unknown_things_are_not_found_and_no_token_is_unauthorized(world):
    assert code(await world.pay("autotask:404404")) == (404, "not_found")
    assert code(await world.call("GET", f"/v1/payments/{uuid.uuid4()}")) == (404, "not_found")
    assert code(await world.call("GET", "/v1/payments/not-a-uuid")) == (404, "not_found")
    assert code(await world.call("GET", "/v1/invoices", token="nope")) == (401, "unauthorized")


async def test_a_client_sees_and_pays_only_its_own_organization(world):
    own = await world.invoice("40.00")
    other = await world.invoice("40.00", organization="999")
    paid_by_client = await world.pay(own, as_=CLIENT)
    assert paid_by_client.status == 201
    assert (paid_by_client.body["environment"], paid_by_client.body["contact_id"]) == ("client_portal", "autotask:901")
    assert code(await world.pay(other, as_=CLIENT)) == (404, "not_found")
    others_payment = (await world.pay(other)).body
    assert code(await world.call("GET", f"/v1/payments/{others_payment['payment_id']}", CLIENT)) == (404, "not_found")
    mine = await world.call("GET", "/v1/payments", CLIENT)
    assert mine.status == 200 and {p["organization_id"] for p in mine.body["items"]} == {"autotask:678"}
    assert code(await world.call("GET", "/v1/payments?organization_id=autotask:999", CLIENT)) == (404, "not_found")
    assert code(await world.call("POST", f"/v1/payments/{paid_by_client.body['payment_id']}/cancel", CLIENT)) == \
        (403, "forbidden")
    assert code(await world.call("GET", "/v1/settings/payment-processing", MANAGER)) == (403, "forbidden")
    echeck = await world.invoice("15.00")
    assert code(await world.pay(echeck, "tok_echeck_approved", as_=CLIENT)) == (422, "payment_type_not_enabled")


async def test_payment_search_filters_and_pages(world):
    a = await world.invoice("11.00", organization="4242")
    b = await world.invoice("12.00", organization="4242")
    first = (await world.pay(a)).body
    second = (await world.pay(b)).body
    page1 = await world.call("GET", "/v1/payments?organization_id=autotask:4242&limit=1")
    assert [p["payment_id"] for p in page1.body["items"]] == [second["payment_id"]]  # newest first
    page2 = await world.call("GET", f"/v1/payments?organization_id=autotask:4242&limit=1&cursor={page1.body['next_cursor']}")
    assert [p["payment_id"] for p in page2.body["items"]] == [first["payment_id"]]
    assert page2.body["next_cursor"] is None
    by_invoice = await world.call("GET", f"/v1/payments?invoice_id={a}")
    assert [p["payment_id"] for p in by_invoice.body["items"]] == [first["payment_id"]]
    none = await world.call("GET", "/v1/payments?organization_id=autotask:4242&status=cancelled&from=2020-01-01")
    assert none.body["items"] == []
    assert code(await world.call("GET", "/v1/payments?status=lost")) == (422, "invalid_request")
    assert code(await world.call("GET", "/v1/payments?from=yesterday")) == (422, "invalid_request")


async def test_the_wallet_keeps_vault_ids_and_pays_with_them(world):
    path = "/v1/organizations/autotask:678/wallet"
    added = await world.call("POST", path, CLIENT, {"token": "tok_visa_approved"})
    assert added.status == 201, added
    method = added.body
    assert (method["type"], method["brand"], method["last4"], method["contact_id"]) == \
        ("credit_card", "visa", "1111", "autotask:901")
    assert "token" not in method and "vault_id" not in method
    listed = await world.call("GET", path, CLIENT)
    assert method["method_id"] in [m["method_id"] for m in listed.body["items"]]
    a = await world.invoice("66.00")
    paid = await world.pay(a, method_id=method["method_id"], as_=CLIENT)
    assert paid.status == 201 and paid.body["method"]["last4"] == "1111"
    assert code(await world.call("GET", "/v1/organizations/autotask:999/wallet", CLIENT)) == (404, "not_found")
    assert code(await world.call("POST", path, MANAGER, {"token": "tok", "ccnumber": "4111111111111111"})) == \
        (422, "raw_card_data_rejected")
    other = await world.invoice("5.00", organization="999")
    assert code(await world.pay(other, method_id=method["method_id"])) == (404, "not_found")
    removed = await world.call("DELETE", f"{path}/{method['method_id']}", CLIENT)
    assert removed.status == 204
    listed = await world.call("GET", path, ADMIN)
    assert method["method_id"] not in [m["method_id"] for m in listed.body["items"]]
    saved_while_paying = await world.pay(await world.invoice("7.00"), "tok_visa_approved",
                                         payment_method={"token": "tok_visa_approved", "save_to_wallet": True})
    assert saved_while_paying.status == 201, saved_while_paying


async def test_removing_a_stored_method_answers_the_status_its_document_names(world):
    """Found by the API fuzzer: the route answered 204 while /openapi.json documented 200 (and so an
    empty answer read as an error body that did not match the Error schema)."""
    path = "/v1/organizations/autotask:678/wallet"
    added = await world.call("POST", path, CLIENT, {"token": "tok_visa_approved"})
    removed = await world.call("DELETE", f"{path}/{added.body['method_id']}", CLIENT)
    async with world.http.get(f"{world.urls['payments']}/openapi.json") as response:
        documented = (await response.json())["paths"]["/v1/organizations/{organization_id}/wallet/{method_id}"]
    assert removed.status == 204 and set(documented["delete"]["responses"]) == {"204", "default"}


async def test_cancelling_something_that_is_not_a_payment_id_with_an_idempotency_key_is_not_found(world):
    """Found by the API fuzzer: with a key, the cancel stored the key under the id read as a UUID first,
    and an id that is not one was a 500."""
    for payment_id in ("not-a-payment", "00000000-0000-0000-0000-000000000000"):
        reply = await world.call("POST", f"/v1/payments/{payment_id}/cancel", MANAGER,
                                 headers={"Idempotency-Key": str(uuid.uuid4())})
        assert code(reply) == (404, "not_found"), reply


async def _status(world, invoice_id: str, status: str):
    view = await world.find_invoice(invoice_id)
    return view if view and view["status"] == status else None
