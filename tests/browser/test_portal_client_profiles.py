"""Client profiles: an admin gives a client a profile without "Make Payments" and "View Quotes"; the
client sees no Pay and no Quotes, the pages refuse, and the services refuse the person's identity too."""
from __future__ import annotations

import uuid

import pytest
from playwright.async_api import expect

from billing_shared.web.identity import Identity, sign
from tests.browser.billing_world import billed_world
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.timeout(240)


async def test_a_profile_without_payments_and_quotes_hides_and_refuses_them(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        invoice_id = await world.invoice(9501, "230.00")
        number = (await world.invoice_view(invoice_id))["invoice_number"]
        await sign_in(page, world.portal, "admin@msp.example")
        await page.get_by_role("link", name="Client profiles").click()
        await expect(page.locator("tr[data-profile='Default']")).to_be_visible()
        await page.get_by_label("Profile name").fill("Invoices only")
        await page.locator("#new-make_payments").uncheck()
        await page.locator("#new-view_quotes").uncheck()
        await page.get_by_role("button", name="Add profile").click()
        await expect(page.get_by_role("status")).to_have_text("Profile Invoices only added")
        row = page.locator("tr[data-profile='Invoices only']")
        await expect(row.get_by_label("Make Payments")).not_to_be_checked()
        await expect(row.get_by_label("View Invoices")).to_be_checked()
        await page.get_by_label("Profile of pat@acme.example", exact=True).select_option(label="Invoices only")
        await page.get_by_role("button", name="Save the profile of pat@acme.example").click()
        await expect(page.get_by_role("status")).to_have_text("Client profile assigned")
        await page.get_by_role("button", name="Sign out").click()

        await sign_in(page, world.portal, "pat@acme.example")
        await expect(page.get_by_role("row").filter(has_text=number)).to_be_visible()
        await expect(page.get_by_role("link", name=f"Pay invoice {number}")).to_have_count(0)
        await expect(page.get_by_role("link", name="Quotes")).to_have_count(0)
        await expect(page.get_by_role("link", name="Wallet")).to_have_count(0)
        for path in ("/portal/quotes", f"/invoices/{invoice_id}/pay", "/portal/wallet"):
            answer = await page.goto(world.portal + path)
            assert answer is not None and answer.status == 404, path

        # The services refuse the person's own identity, not only the portal's pages.
        pat = Identity(subject=str(uuid.uuid4()), role="client", organization_id="autotask:678",
                       contact_id="autotask:901", permissions=frozenset({"view_invoices"}))
        token = sign(pat, portal_system.env["IDENTITY_KEY"])
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
        async with world.http.post(world.system.urls["payments"] + "/v1/payments", headers=headers, json={
                "invoice_id": invoice_id, "payment_method": {"token": "tok_visa_approved"}}) as answer:
            assert answer.status == 403 and (await answer.json())["error"]["code"] == "forbidden"
        async with world.http.get(world.system.urls["sync"] + "/v1/organizations/autotask:678/quotes",
                                  headers=headers) as answer:
            assert answer.status == 403
        async with world.http.get(world.system.urls["payments"] + "/v1/invoices?organization_id=autotask:678",
                                  headers=headers) as answer:
            assert answer.status == 200
        assert not [s for s in await world.sales() if s["amount"] == "230.00"]
