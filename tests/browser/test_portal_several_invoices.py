"""Several invoices in one payment from the browser: a client ticks three open invoices and pays them in
one sale (one Transaction ID, one application each); staff do the same from Invoice History."""
from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.billing_world import ORGANIZATION, billed_world
from tests.browser.conftest import sign_in, type_card

pytestmark = pytest.mark.timeout(240)


async def test_a_client_pays_three_invoices_in_one_sale(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        ids = [await world.invoice(9700 + n, total) for n, total in ((1, "100.00"), (2, "200.00"), (3, "300.00"))]
        numbers = [(await world.invoice_view(i))["invoice_number"] for i in ids]
        await sign_in(page, world.portal, "pat@acme.example")
        for number in numbers:
            await page.get_by_label(f"Select invoice {number}").check()
        await page.get_by_role("button", name="Pay selected").click()
        await expect(page.get_by_role("heading", name="Order Summary")).to_be_visible()
        await expect(page.get_by_text("3 invoices in one payment")).to_be_visible()
        await page.get_by_label(f"Amount for {numbers[2]}").fill("250.00")  # less than that one's balance
        await type_card(page, "4111 1111 1111 1111")
        await page.get_by_role("button", name="Pay").click()
        await expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
        transaction_id = (await page.locator(".transaction-id").text_content() or "").strip()
        assert transaction_id

        balances = [(await world.invoice_view(i))["balance"] for i in ids]
        assert balances == ["0.00", "0.00", "50.00"]
        sales = [s for s in await world.sales() if s["amount"] == "550.00"]
        assert len(sales) == 1
        await page.get_by_role("link", name="View Payment Details").click()
        applied = page.locator("table.applications tbody tr")
        await expect(applied).to_have_count(3)
        await expect(page.locator("dd[data-amount='sale']")).to_contain_text("550.00")


async def test_staff_pay_selected_invoices_after_assigning_the_contact(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        ids = [await world.invoice(9800 + n, "120.00") for n in (1, 2)]
        numbers = [(await world.invoice_view(i))["invoice_number"] for i in ids]
        await sign_in(page, world.portal, "manager@msp.example")
        await page.goto(f"{world.portal}/organizations/{ORGANIZATION}/invoices")
        for number in numbers:
            await page.get_by_label(f"Select invoice {number}").check()
        await page.get_by_role("button", name="Pay selected").click()
        await expect(page.get_by_role("heading", name="Assign Payment Contact")).to_be_visible()
        await page.get_by_label(re.compile("Ada Payer")).check()
        await page.get_by_role("button", name="Continue").click()
        await expect(page.get_by_text("2 invoices in one payment")).to_be_visible()
        await type_card(page, "4111 1111 1111 1111")
        await page.get_by_role("button", name="Pay").click()
        await expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
        assert [(await world.invoice_view(i))["status"] for i in ids] == ["paid", "paid"]
