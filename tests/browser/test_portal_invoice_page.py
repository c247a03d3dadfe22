"""The invoice page with its image (from the sources in the configured order), and the image order."""
from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.billing_world import billed_world
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.timeout(180)


async def test_the_invoice_page_shows_its_image_and_the_admin_chooses_the_image_order(portal_system, gateway_sim,
                                                                                       page):
    async with billed_world(portal_system, gateway_sim) as world:
        invoice_id = await world.invoice(8801, "640.00")
        await sign_in(page, world.portal, "manager@msp.example")
        await page.goto(f"{world.portal}/invoices/{invoice_id}")
        await expect(page.locator("dl.summary")).to_contain_text("640.00")
        await expect(page.get_by_role("link", name="Process Payment")).to_be_visible()
        image = await page.request.get(f"{world.portal}/invoices/{invoice_id}/image")
        assert image.ok and image.headers["content-type"] == "application/pdf"
        assert (await image.body()).startswith(b"%PDF")

        await page.get_by_role("button", name="Sign out").click()
        await sign_in(page, world.portal, "admin@msp.example")
        await page.goto(f"{world.portal}/settings/invoice-image")
        await page.get_by_label("Use Autotask (the PSA's invoice PDF)").uncheck()
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status")).to_have_text("Settings saved")
        assert (await world.api("sync", "GET", "/v1/settings/invoice-image")) == {"sources": ["accounting"]}
        await expect(page.get_by_label("Use Autotask (the PSA's invoice PDF)")).not_to_be_checked()
