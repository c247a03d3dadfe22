"""Payment processing settings in a real browser: keys masked once saved, the currency locked once set,
environments and payment types, the "Settings saved" banner, and Test keys against the gateway."""
from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.timeout(120)


def group(page: Page, name: str):
    return page.get_by_role("group", name=name)


async def test_an_admin_activates_processing_and_the_keys_and_currency_are_then_guarded(portal_system, page):
    portal = portal_system.urls["portal"]
    await sign_in(page, portal, "admin@msp.example")
    await page.goto(f"{portal}/settings/payment-processing")
    await page.get_by_label("Payment processing active").check()
    await page.get_by_label("Private Key").fill("sim-private-key")
    await page.get_by_label("Public Key").fill("sim-public-key")
    await page.get_by_label("Currency").select_option("USD")
    await group(page, "Accept Payments in").get_by_label("Autotask").check()
    await group(page, "Accept Payments in").get_by_label("Client Portal").check()
    await group(page, "Payment Types available in Autotask").get_by_label("Credit Card").check()
    await group(page, "Payment Types available in Autotask").get_by_label("eCheck").check()
    await group(page, "Payment Types available in Client Portal").get_by_label("Credit Card").check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Settings saved")

    private = page.get_by_label("Private Key")
    await expect(private).to_have_value("")
    await expect(private).to_have_attribute("placeholder", "****-key (stored; leave blank to keep)")
    assert "sim-private-key" not in await page.content()
    await expect(page.get_by_label("Currency")).to_be_disabled()
    await expect(page.get_by_text("Locked: the currency cannot change once it is set.")).to_be_visible()
    await expect(group(page, "Payment Types available in Client Portal").get_by_label("eCheck")).not_to_be_checked()

    await page.get_by_role("button", name="Test keys").click()
    await expect(page.get_by_role("status")).to_have_text("The gateway accepted the keys")

    # Saving again without typing the keys keeps them, and the currency stays what it was.
    await group(page, "Payment Types available in Client Portal").get_by_label("eCheck").check()
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Settings saved")
    await expect(group(page, "Payment Types available in Client Portal").get_by_label("eCheck")).to_be_checked()
    await page.get_by_role("button", name="Test keys").click()
    await expect(page.get_by_role("status")).to_have_text("The gateway accepted the keys")
    await expect(page.get_by_label("Currency")).to_have_value("USD")


async def test_wrong_keys_are_reported_by_test_keys(portal_system, page):
    portal = portal_system.urls["portal"]
    await sign_in(page, portal, "admin@msp.example")
    await page.goto(f"{portal}/settings/payment-processing")
    await page.get_by_label("Private Key").fill("not-the-key")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Settings saved")
    await page.get_by_role("button", name="Test keys").click()
    await expect(page.get_by_role("status")).to_contain_text("The gateway refused the keys")


async def test_a_manager_cannot_open_the_settings(portal_system, page):
    portal = portal_system.urls["portal"]
    await sign_in(page, portal, "manager@msp.example")
    answer = await page.goto(f"{portal}/settings/payment-processing")
    assert answer is not None and answer.status == 404
