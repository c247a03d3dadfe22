"""The staff payment flow in a real browser: Invoice History → Process Payment → Assign Payment
Contact → Order Summary → the result with the Transaction ID; a new card typed into the gateway's
hosted fields, a stored method, a declined card and Try again, and a double click that charges once."""
from __future__ import annotations

import asyncio
import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.billing_world import ORGANIZATION, billed_world
from tests.browser.conftest import sign_in, type_card

pytestmark = pytest.mark.timeout(240)


async def open_order_summary(page: Page, portal: str, invoice_number: str) -> None:
    await page.goto(f"{portal}/organizations")
    await page.get_by_role("link", name="Acme Dental").click()
    await expect(page.get_by_role("heading", name="Invoice History")).to_be_visible()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=invoice_number, exact=True))
    await row.get_by_role("button", name="Process Payment").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("heading", name="Assign Payment Contact")).to_be_visible()
    await dialog.get_by_label(re.compile("Ada Payer")).check()
    await dialog.get_by_role("button", name="Continue").click()
    await expect(page.get_by_role("heading", name="Order Summary")).to_be_visible()


async def test_staff_pay_part_with_a_new_card_saved_then_the_rest_with_the_stored_method(portal_system, gateway_sim,
                                                                                         page):
    async with billed_world(portal_system, gateway_sim) as world:
        invoice_id = await world.invoice(8101, "1000.00")
        number = (await world.invoice_view(invoice_id))["invoice_number"]
        await sign_in(page, world.portal, "manager@msp.example")
        await open_order_summary(page, world.portal, number)
        await expect(page.get_by_label("Amount")).to_have_value("1000.00")
        await page.get_by_label("Amount").fill("400.00")
        await type_card(page, "4111 1111 1111 1111")
        await page.get_by_label("Save to wallet").check()
        await page.get_by_role("button", name="Pay").click()
        await expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
        transaction_id = await page.locator(".transaction-id").text_content()
        assert transaction_id and transaction_id.strip()
        assert (await world.invoice_view(invoice_id))["balance"] == "600.00"

        await open_order_summary(page, world.portal, number)
        await expect(page.get_by_label("Amount")).to_have_value("600.00")
        await page.get_by_role("listitem").filter(has_text="ending 1111").get_by_role("button", name="Use").click()
        await page.get_by_role("button", name="Pay").click()
        await expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
        paid = await world.invoice_view(invoice_id)
        assert (paid["balance"], paid["status"], paid["payable"]) == ("0.00", "paid", False)
        sales = [s for s in await world.sales() if s["amount"] in ("400.00", "600.00")]
        assert sorted(s["amount"] for s in sales) == ["400.00", "600.00"]

        await page.goto(f"{world.portal}/organizations/{ORGANIZATION}/invoices")
        row = page.get_by_role("row").filter(has=page.get_by_role("link", name=number, exact=True))
        await expect(row).to_contain_text("Paid")
        await expect(row.get_by_role("button", name="Process Payment")).to_have_count(0)


async def test_a_declined_card_shows_the_reason_and_try_again_pays(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        invoice_id = await world.invoice(8201, "300.00")
        number = (await world.invoice_view(invoice_id))["invoice_number"]
        await sign_in(page, world.portal, "manager@msp.example")
        await open_order_summary(page, world.portal, number)
        await type_card(page, "4000 0000 0000 0002")
        await page.get_by_role("button", name="Pay").click()
        await expect(page.get_by_role("heading", name="Payment not completed")).to_be_visible()
        await expect(page.get_by_role("alert")).to_contain_text("declined")
        await page.get_by_role("link", name="Try again").click()
        await expect(page.get_by_role("heading", name="Order Summary")).to_be_visible()
        await type_card(page, "4111 1111 1111 1111")
        await page.get_by_role("button", name="Pay").click()
        await expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
        assert (await world.invoice_view(invoice_id))["status"] == "paid"


async def test_a_double_clicked_pay_and_a_resubmitted_form_charge_once(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        invoice_id = await world.invoice(8301, "250.00")
        number = (await world.invoice_view(invoice_id))["invoice_number"]
        await sign_in(page, world.portal, "manager@msp.example")
        await open_order_summary(page, world.portal, number)
        await type_card(page, "4111 1111 1111 1111")
        posted: list[tuple[str, str]] = []
        page.on("request", lambda r: posted.append((r.url, r.post_data or "")) if r.method == "POST" and
                r.url.endswith("/pay") else None)
        await page.get_by_role("button", name="Pay").dblclick()
        await expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()
        result_url = page.url
        await page.reload()  # a refresh of the result page
        await expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()

        assert len(posted) == 1, posted  # the double click sent the form once
        url, body = posted[0]
        again = await page.request.post(url, data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert again.ok and again.url == result_url  # the same form sent again: the same payment, no new sale
        await asyncio.sleep(0.5)
        sales = [s for s in await world.sales() if s["amount"] == "250.00"]
        assert len(sales) == 1, sales
