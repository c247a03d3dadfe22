"""The client portal in a real browser: a client pays part with a new card saved to the wallet, then the
rest with the stored method; sees its payment history and wallet, removes a method; sees open quotes."""
from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.billing_world import billed_world
from tests.browser.conftest import sign_in, type_card
from tests.support import eventually

pytestmark = pytest.mark.timeout(240)


async def test_a_client_pays_in_two_parts_and_sees_history_and_wallet(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        invoice_id = await world.invoice(9101, "900.00")
        number = (await world.invoice_view(invoice_id))["invoice_number"]
        await sign_in(page, world.portal, "pat@acme.example")
        await page.get_by_role("link", name=f"Pay invoice {number}").click()
        await expect(page.get_by_role("heading", name="Order Summary")).to_be_visible()
        await page.get_by_label("Amount").fill("300.00")
        await type_card(page)
        await page.get_by_label("Save to wallet").check()
        await page.get_by_role("button", name="Pay").click()
        await expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()

        await page.goto(f"{world.portal}/portal/invoices")
        await page.get_by_role("link", name=f"Pay invoice {number}").click()
        await expect(page.get_by_label("Amount")).to_have_value("600.00")
        await page.get_by_role("listitem").filter(has_text="ending 1111").get_by_role("button", name="Use").click()
        await page.get_by_role("button", name="Pay").click()
        await expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
        assert (await world.invoice_view(invoice_id))["status"] == "paid"

        async def paid_in_the_books() -> bool:  # written back to the accounting simulator
            books = await world.sims.acct_call("GET", "/_sim/invoices")
            mine = [b for b in books if b.get("DocNumber") == number]
            return len(mine) == 1 and float(mine[0]["Balance"]) == 0.0
        await eventually(paid_in_the_books, timeout=30, interval=0.3)

        await page.get_by_role("link", name="Payments").click()
        rows = page.get_by_role("row").filter(has_text=invoice_id)
        await expect(rows).to_have_count(2)
        await page.get_by_role("link", name="Wallet").click()
        method = page.get_by_role("row").filter(has_text="1111")
        await expect(method).to_contain_text("Visa")
        await method.get_by_role("button", name="Remove").click()
        await page.get_by_role("button", name="Confirm").click()
        await expect(page.get_by_role("status")).to_have_text("Payment method removed")
        await expect(page.get_by_role("row").filter(has_text="1111")).to_have_count(0)


async def test_a_client_adds_a_card_to_the_wallet_and_sees_open_quotes(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        for body in ({"id": 51, "title": "Firewall refresh", "status": 1,
                      "userDefinedFields": [{"name": "Quote URL", "value": "https://quotes.example/51"}]},
                     {"id": 52, "title": "Backup", "status": 1, "userDefinedFields": [{"name": "Quote URL", "value": ""}]},
                     {"id": 53, "title": "Lost deal", "status": 2}):
            await world.sims.psa_call("POST", "/_sim/opportunities", {"companyID": 678, **body})
        await world.sync_now()
        await sign_in(page, world.portal, "pat@acme.example")
        await page.goto(f"{world.portal}/portal/wallet")
        await type_card(page, "5555 5555 5555 4444")
        await page.get_by_role("button", name="Add").click()
        await expect(page.get_by_role("status")).to_have_text("Payment method saved")
        await expect(page.get_by_role("row").filter(has_text="4444")).to_contain_text("Mastercard")

        await page.get_by_role("link", name="Quotes").click()
        firewall = page.get_by_role("row").filter(has_text="Firewall refresh")
        await expect(firewall.get_by_role("link", name="Open Quote")).to_have_attribute("target", "_blank")
        await expect(firewall.get_by_role("link", name="Open Quote")).to_have_attribute(
            "href", "https://quotes.example/51")
        backup = page.get_by_role("row").filter(has_text="Backup")
        await expect(backup).to_be_visible()
        await expect(backup.get_by_role("link", name="Open Quote")).to_have_count(0)
        await expect(page.get_by_role("row").filter(has_text="Lost deal")).to_have_count(0)
