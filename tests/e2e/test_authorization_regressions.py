"""Defects the authorization matrix (test_authorization_matrix.py) found, one concrete request each:
an organization nobody knows is a missing id (404) for staff too, never an empty page or a new row."""
from __future__ import annotations

import asyncpg
import pytest

from tests.e2e.conftest import MANAGER

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]
UNKNOWN = "autotask:424242"


async def test_staff_asking_for_the_contacts_of_an_unknown_organization_get_404(world):
    reply = await world.call("GET", f"/v1/organizations/{UNKNOWN}/contacts", MANAGER, service="sync")
    assert (reply.status, _code(reply)) == (404, "not_found"), reply


async def test_staff_asking_for_the_quotes_of_an_unknown_organization_get_404(world):
    reply = await world.call("GET", f"/v1/organizations/{UNKNOWN}/quotes", MANAGER, service="sync")
    assert (reply.status, _code(reply)) == (404, "not_found"), reply


async def test_staff_listing_the_wallet_of_an_unknown_organization_get_404(world):
    reply = await world.call("GET", f"/v1/organizations/{UNKNOWN}/wallet", MANAGER)
    assert (reply.status, _code(reply)) == (404, "not_found"), reply


async def test_staff_cannot_store_a_payment_method_for_an_unknown_organization(world):
    payer = await world.payer("autotask:678")
    reply = await world.call("POST", f"/v1/organizations/{UNKNOWN}/wallet", MANAGER,
                             {"token": "tok_visa_approved", "contact_id": payer})
    assert (reply.status, _code(reply)) == (404, "not_found"), reply
    assert await _stored_methods(world, UNKNOWN) == 0


async def test_staff_cannot_store_a_payment_method_naming_another_organizations_contact(world):
    await world.invoice("80.00", organization="679")  # payments knows organization 679
    contact_of_678 = await world.payer("autotask:678")
    reply = await world.call("POST", "/v1/organizations/autotask:679/wallet", MANAGER,
                             {"token": "tok_visa_approved", "contact_id": contact_of_678})
    assert (reply.status, _code(reply)) == (422, "contact_not_in_organization"), reply
    assert await _stored_methods(world, "autotask:679") == 0


def _code(reply) -> str | None:
    return (reply.body or {}).get("error", {}).get("code") if isinstance(reply.body, dict) else None


async def _stored_methods(world, organization_id: str) -> int:
    conn = await asyncpg.connect(world.database_url)
    try:
        return await conn.fetchval("SELECT count(*) FROM payments.wallet_methods WHERE organization_id = $1",
                                   organization_id)
    finally:
        await conn.close()
