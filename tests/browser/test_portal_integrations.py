"""Integrations in a real browser: settings with masked secrets, Test Connection, Sync Now with live
progress until the run ends, Delete then Confirm; each change in the audit log."""
from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import sign_in
from tests.e2e.sync_support import PSA_CODE, PSA_SECRET, PSA_USER, seed_customer, seed_invoice, simulators

pytestmark = pytest.mark.timeout(180)


def card(page: Page, title: str):
    return page.locator("section.integration").filter(has=page.get_by_role("heading", name=title, exact=True))


async def fill(section, values: dict[str, str]) -> None:
    for label, value in values.items():
        await section.get_by_label(label, exact=True).fill(value)


async def test_an_admin_connects_both_integrations_tests_syncs_and_deletes(portal_system, page):
    portal = portal_system.urls["portal"]
    async with simulators() as sims:
        await seed_customer(sims)
        await seed_invoice(sims, 7001, "500.00")
        await sign_in(page, portal, "admin@msp.example")
        await expect(page).to_have_url(f"{portal}/integrations")

        quickbooks = card(page, "QuickBooks Online")
        await expect(quickbooks.get_by_text("Not set up yet")).to_be_visible()
        await fill(quickbooks, {"API URL": sims.accounting_url, "Company ID (realm)": "sim-realm",
                                "Client ID": "sim-client", "Client Secret": "sim-client-secret",
                                "Refresh Token": "sim-refresh-token"})
        await quickbooks.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status").first).to_have_text("QuickBooks Online settings saved")

        autotask = card(page, "Autotask")
        await fill(autotask, {"API Username": PSA_USER, "Secret": PSA_SECRET, "Integration Code": PSA_CODE,
                              "API URL": sims.psa.url, "Custom Quote URL Mapping": "Quote URL"})
        await autotask.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status").first).to_have_text("Autotask settings saved")

        autotask = card(page, "Autotask")
        await autotask.get_by_role("button", name="Settings").click()
        secret = autotask.get_by_label("Secret", exact=True)
        await expect(secret).to_have_value("")  # write-only: never sent back to the browser
        await expect(secret).to_have_attribute("placeholder", re.compile(r"\*\*\*\*"))
        assert PSA_SECRET not in await page.content()
        await expect(autotask.get_by_label("Custom Quote URL Mapping")).to_have_value("Quote URL")

        await autotask.get_by_role("button", name="Test Connection").click()
        await expect(page.get_by_role("status").first).to_have_text("Autotask: connection OK")

        await card(page, "Autotask").get_by_role("button", name="Sync Now").click()
        progress = page.locator(".progress")
        await expect(progress).to_contain_text("Sync completed", timeout=60_000)
        await expect(progress).to_contain_text("invoices")

        await page.goto(f"{portal}/organizations")
        await expect(page.get_by_role("row").filter(has_text="Acme Dental")).to_be_visible()
        await page.get_by_label("Search organizations").fill("DENT")
        await page.get_by_role("button", name="Search").click()
        await expect(page.get_by_role("row").filter(has_text="Acme Dental")).to_be_visible()
        await page.get_by_role("link", name="Acme Dental").click()  # the synced invoice, numbered and payable
        invoice = page.get_by_role("row").filter(has_text="500.00 USD")
        await expect(invoice.get_by_role("button", name="Process Payment")).to_be_visible()
        await page.goto(f"{portal}/organizations")
        await page.get_by_label("Search organizations").fill("100%_")  # LIKE's wildcards are taken literally
        await page.get_by_role("button", name="Search").click()
        await expect(page.get_by_text("No organization's name holds “100%_”.")).to_be_visible()

        await page.goto(f"{portal}/integrations")
        await card(page, "Autotask").get_by_role("button", name="Delete").click()
        await page.get_by_role("button", name="Confirm").click()
        await expect(page.get_by_role("status").first).to_have_text("Autotask integration deleted")
        await expect(card(page, "Autotask").get_by_text("Not set up yet")).to_be_visible()

        await page.get_by_role("link", name="Audit log").click()
        for action in ("saved integration settings", "tested integration connection", "started a sync run",
                       "deleted integration"):
            await expect(page.get_by_role("row").filter(has_text=action).first).to_be_visible()


async def test_a_refused_setting_is_shown_beside_the_form_with_what_was_typed_kept(portal_system, page):
    portal = portal_system.urls["portal"]
    await sign_in(page, portal, "admin@msp.example")
    autotask = card(page, "Autotask")
    await fill(autotask, {"API Username": "api@msp.example", "Secret": "s3cret", "Integration Code": "CODE",
                          "API URL": "ftp://not-a-web-address"})
    await autotask.get_by_role("button", name="Save").click()
    autotask = card(page, "Autotask")
    await expect(autotask.get_by_role("alert")).to_contain_text("not valid")
    await expect(autotask.get_by_label("API URL", exact=True)).to_have_value("ftp://not-a-web-address")
    await expect(autotask.get_by_label("API Username")).to_have_value("api@msp.example")
    await expect(autotask.get_by_label("Secret", exact=True)).to_have_value("")  # a secret is never echoed


async def test_a_manager_cannot_open_integrations_and_its_forms_are_refused(portal_system, page):
    portal = portal_system.urls["portal"]
    await sign_in(page, portal, "manager@msp.example")
    answer = await page.goto(f"{portal}/integrations")
    assert answer is not None and answer.status == 404
