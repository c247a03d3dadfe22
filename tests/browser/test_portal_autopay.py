"""Autopay in a real browser: staff turn autopay on for an organization with a stored card (a refused field and a
service's refusal are shown as sentences first), the scheduler charges one invoice and skips one above the
maximum, both shown in the attempts table in plain words; a client whose profile allows autopay sees it on its
own page and turns it off; a client whose profile does not sees no Autopay in its navigation."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from playwright.async_api import Page, expect

from tests.browser.billing_world import CONTACT, ORGANIZATION, billed_world
from tests.browser.conftest import _env, _portal_system, sign_in
from tests.e2e.conftest import MANAGER, System
from tests.e2e.payments_support import ACTIVE_SETTINGS
from tests.e2e.sync_support import seed_invoice
from tests.support import eventually

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
async def autopay_system(infra, database_url, topic_prefix, tmp_path, gateway_sim,
                         payments_port) -> AsyncIterator[System]:
    """As portal_system, with the autopay scheduler passing every 0.3 s instead of every minute."""
    env = {**_env(infra, database_url, topic_prefix, gateway_sim), "AUTOPAY_INTERVAL_SECONDS": "0.3"}
    async for system in _portal_system(env, tmp_path / "logs", payments_port, notifications=False):
        yield system


async def _audit_actions(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT action FROM portal.audit_log WHERE action LIKE '%autopay%' ORDER BY at")
        return [r["action"] for r in rows]
    finally:
        await conn.close()


async def test_staff_turn_autopay_on_and_a_client_sees_it_and_turns_it_off(autopay_system, gateway_sim, page: Page):
    async with billed_world(autopay_system, gateway_sim) as world:
        today = f"{datetime.now(UTC).date()}T00:00:00"
        for external_id, total in ((9701, "80.00"), (9702, "230.00")):  # issued today: charged today at 0 days
            await seed_invoice(world.sims, external_id, total, invoiceDateTime=today, dueDate=today)
        await world.sync_now()
        small, large = [await world.payable(f"autotask:{n}") for n in (9701, 9702)]
        numbers = {i: (await world.invoice_view(i))["invoice_number"] for i in (small, large)}
        await world.api("payments", "POST", f"/v1/organizations/{ORGANIZATION}/wallet",
                        {"token": "tok_visa_approved", "contact_id": CONTACT}, token=MANAGER, expect=201)

        await sign_in(page, world.portal, "manager@msp.example")
        await page.get_by_role("link", name="Organizations").click()
        await page.locator("tr", has_text=ORGANIZATION).get_by_role("link", name="Autopay").click()
        await expect(page.get_by_role("heading", name="Autopay", exact=True)).to_be_visible()
        await expect(page.locator("#enrollment")).to_contain_text("Autopay is off")

        await page.get_by_label("Payment method").select_option(label="Visa ending 1111")
        await page.get_by_label("N days after the invoice date").check()
        await page.get_by_label("Days after the invoice date (N)").fill("0")
        await page.get_by_label("Maximum per invoice").fill("-5")
        await page.get_by_role("button", name="Save autopay").click()
        await expect(page.locator("#max_amount-error")).to_have_text(
            "Enter an amount above 0.00, with at most two decimals.")
        await expect(page.get_by_label("N days after the invoice date")).to_be_checked()  # what was typed stays

        # payments refuses while processing is off: its refusal is a sentence, and nothing is saved
        await world.api("payments", "PUT", "/v1/settings/payment-processing", {**ACTIVE_SETTINGS, "active": False})
        await page.get_by_label("Maximum per invoice").fill("100.00")
        await page.get_by_role("button", name="Save autopay").click()
        await expect(page.get_by_role("alert")).to_contain_text(
            "Payment processing is not active. An administrator can turn it on.")
        await expect(page.locator("#enrollment")).to_contain_text("Autopay is off")
        await world.api("payments", "PUT", "/v1/settings/payment-processing", ACTIVE_SETTINGS)

        await page.get_by_role("button", name="Save autopay").click()
        await expect(page.get_by_role("status")).to_have_text("Autopay saved")
        enrollment = page.locator("#enrollment")
        for shown in ("Visa ending 1111", "0 days after the invoice date", "100.00 USD", CONTACT):
            await expect(enrollment).to_contain_text(shown)
        assert await _audit_actions(autopay_system.env["DATABASE_URL"]) == ["turned autopay on"]

        async def both_attempted() -> bool:  # the scheduler: one charged, one above the maximum
            await page.reload()
            return await page.locator("#attempts tr[data-attempt]").count() == 2 and \
                "Charging" not in (await page.locator("#attempts").text_content() or "") and \
                "Checking" not in (await page.locator("#attempts").text_content() or "")
        await eventually(both_attempted, timeout=60, interval=0.5)
        await expect(page.locator("#attempts tr", has_text=numbers[small])).to_contain_text("Paid")
        skipped = page.locator("#attempts tr", has_text=numbers[large])
        await expect(skipped).to_contain_text("Skipped")
        await expect(skipped).to_contain_text("The balance was above the maximum per invoice.")
        assert [s["amount"] for s in await world.sales()] == ["80.00"]
        await page.get_by_role("button", name="Sign out").click()

        # a client with the permission (the Default profile allows everything) sees it on its own page
        await sign_in(page, world.portal, "pat@acme.example")
        await page.get_by_role("link", name="Autopay").click()
        await expect(page).to_have_url(f"{world.portal}/portal/autopay")
        for shown in ("Visa ending 1111", "0 days after the invoice date", "100.00 USD"):
            await expect(page.locator("#enrollment")).to_contain_text(shown)
        await expect(page.locator("#attempts tr", has_text=numbers[small])).to_contain_text("Paid")
        await expect(page.get_by_label("Pays as contact")).to_have_count(0)  # a client pays as itself
        await page.get_by_role("button", name="Turn off autopay").click()
        await expect(page.get_by_role("status")).to_have_text("Autopay turned off")
        await expect(page.locator("#enrollment")).to_contain_text("Autopay is off")
        assert (await world.api("payments", "GET", f"/v1/organizations/{ORGANIZATION}/autopay",
                                token=MANAGER))["enrollment"] is None
        assert await _audit_actions(autopay_system.env["DATABASE_URL"]) == ["turned autopay on", "turned autopay off"]
        await page.get_by_role("button", name="Sign out").click()

        # an admin gives the client a profile without autopay: no navigation entry, and the page is not found
        await sign_in(page, world.portal, "admin@msp.example")
        await page.get_by_role("link", name="Client profiles").click()
        await page.get_by_label("Profile name").fill("No autopay")
        await page.locator("#new-autopay").uncheck()
        await page.get_by_role("button", name="Add profile").click()
        await expect(page.get_by_role("status")).to_have_text("Profile No autopay added")
        await page.get_by_label("Profile of pat@acme.example", exact=True).select_option(label="No autopay")
        await page.get_by_role("button", name="Save the profile of pat@acme.example").click()
        await expect(page.get_by_role("status")).to_have_text("Client profile assigned")
        await page.get_by_role("button", name="Sign out").click()

        await sign_in(page, world.portal, "pat@acme.example")
        await expect(page.get_by_role("link", name="Wallet")).to_be_visible()
        await expect(page.get_by_role("link", name="Autopay")).to_have_count(0)
        answer = await page.goto(f"{world.portal}/portal/autopay")
        assert answer is not None and answer.status == 404
