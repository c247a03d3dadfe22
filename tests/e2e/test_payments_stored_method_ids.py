"""A stored method's id is a uuid4 that payments made itself; about one in 400 of them has hex groups that
happen to be all digits and, read across the hyphens, a Luhn-valid 13-19 digit run. Such a method could
never be used: every payment with it was refused as raw card data. Found by the chaos harness (tests/chaos:
18 refusals of stored-method payments in 10 runs)."""
from __future__ import annotations

import asyncpg
import pytest

from tests.e2e.conftest import CLIENT

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]
# a uuid4 whose digit groups read as a Luhn-valid number: "22998059" "9473" and so on
UNLUCKY = "22998059-9473-4c26-8cd6-e37639a1f50f"


async def test_a_stored_method_whose_id_reads_like_a_card_number_still_pays(world):
    added = await world.call("POST", "/v1/organizations/autotask:678/wallet", CLIENT, {"token": "tok_visa_approved"})
    assert added.status == 201, added
    conn = await asyncpg.connect(world.database_url)
    try:  # the id payments drew for it happens to be an unlucky one
        await conn.execute("UPDATE payments.wallet_methods SET method_id = $1 WHERE method_id = $2",
                           UNLUCKY, added.body["method_id"])
    finally:
        await conn.close()
    invoice_id = await world.invoice("41.00")
    paid = await world.pay(invoice_id, method_id=UNLUCKY, as_=CLIENT)
    assert paid.status == 201, paid
    assert (paid.body["status"], paid.body["sale_amount"], paid.body["method"]["last4"]) == ("succeeded", "41.00", "1111")
    # a real card number in the same place is still refused
    refused = await world.pay(invoice_id, method_id="4111 1111 1111 1111", as_=CLIENT)
    assert (refused.status, refused.body["error"]["code"]) == (422, "raw_card_data_rejected")
