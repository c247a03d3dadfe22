"""Reconciliation in a real browser: an admin runs one for today, sees each drift injected at the gateway
simulator with its evidence, explains one with a note, and is told why another cannot be repaired."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, expect

from tests.browser.billing_world import billed_world, staff_pays
from tests.browser.conftest import sign_in
from tests.support import eventually

pytestmark = pytest.mark.timeout(240)


async def test_an_admin_runs_a_reconciliation_and_explains_a_drift(portal_system, gateway_sim, page: Page):
    async with billed_world(portal_system, gateway_sim) as world:
        paid = await staff_pays(world, await world.invoice(8501, "120.00"))
        async with world.http.post(f"{gateway_sim}/_sim/transactions", json={"amount": "55.00"}) as made:
            elsewhere = await made.json()
        async with world.http.post(f"{gateway_sim}/_sim/transactions/{paid['transaction_id']}/void") as voided:
            assert voided.status == 200

        await sign_in(page, world.portal, "admin@msp.example")
        await page.get_by_role("link", name="Reconciliation").click()
        await expect(page.get_by_role("heading", name="Reconciliation")).to_be_visible()
        today = datetime.now(UTC).date().isoformat()
        await page.get_by_label("From").fill(today)
        await page.get_by_label("To").fill(today)
        await page.get_by_role("button", name="Run reconciliation").click()
        await expect(page.get_by_role("status")).to_have_text("Reconciliation started")

        async def gateway_checked() -> bool:
            await page.reload()
            return "Checked" in (await page.locator("#gateway-part").text_content() or "")
        await eventually(gateway_checked, timeout=30, interval=0.5)

        unknown = page.locator("tr", has_text="Charged at the gateway, not in the ledger")
        await expect(unknown).to_contain_text(elsewhere["transaction_id"])
        await expect(unknown).to_contain_text("55.00")
        missing = page.locator("tr", has_text="In the ledger, not standing at the gateway")
        await expect(missing).to_contain_text(paid["payment_id"])
        await expect(missing).to_contain_text("voided")

        await expect(unknown.get_by_role("button", name="Repair")).to_have_count(0)  # no safe repair: explain it

        missing = page.locator("tr", has_text="In the ledger, not standing at the gateway")
        await missing.get_by_label("Note").fill("voided by the bank, client told")
        await missing.get_by_role("button", name="Mark as explained").click()
        await expect(page.get_by_role("status")).to_have_text("Drift marked as explained")
        await expect(page.locator("tr", has_text="In the ledger, not standing at the gateway")).to_contain_text(
            "Explained: voided by the bank, client told")

        await page.get_by_role("link", name="All reconciliation runs").click()
        ours = page.locator("tr", has_text="admin")  # (the nightly run of yesterday may be listed too)
        await expect(ours).to_have_count(1)
        await expect(ours.locator("td")).to_have_text([today, "admin", "Drift found", "2", "1", "View report"])
