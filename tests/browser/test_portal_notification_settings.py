"""Notification settings and Connect to Ticketing in a real browser: the ticket picklists come from
the PSA once ticketing is connected."""
from __future__ import annotations

import pytest
from playwright.async_api import expect

from billing_simulators.psa import running_psa_simulator
from tests.browser.conftest import sign_in
from tests.e2e.conftest import ADMIN, auth

pytestmark = pytest.mark.timeout(180)


async def test_an_admin_connects_ticketing_and_configures_service_tickets(full_portal_system, page):
    portal = full_portal_system.urls["portal"]
    async with running_psa_simulator() as psa:
        await sign_in(page, portal, "admin@msp.example")
        await page.goto(f"{portal}/settings/notifications")
        await expect(page.get_by_role("alert")).to_contain_text("Connect to Ticketing first")
        await expect(page.get_by_label("Queue")).to_be_disabled()

        await page.goto(f"{portal}/integrations")
        await page.get_by_role("link", name="Connect to Ticketing").click()
        await page.get_by_label("API Username").fill("api@msp.example")
        await page.get_by_label("Secret").fill("sim-secret")
        await page.get_by_label("Integration Code").fill("SIMINTEGRATIONCODE000000000000")
        await page.get_by_label("API URL").fill(psa.zone_lookup_base)
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status")).to_have_text("Ticketing connection saved")
        await page.get_by_role("button", name="Test Connection").click()
        await expect(page.get_by_role("status")).to_have_text("Ticketing: connection OK")
        assert "sim-secret" not in await page.content()

        await page.goto(f"{portal}/settings/notifications")
        row = page.get_by_role("row").filter(has_text="Payment succeeded")
        await row.get_by_label("Service Ticket").check()
        await row.get_by_label("Email").uncheck()
        await page.get_by_label("Queue").select_option(label="Level I Support")
        await page.get_by_label("Issue Type").select_option(label="Billing")
        await page.get_by_label("Priority").select_option(label="High")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("status")).to_have_text("Settings saved")
        await expect(page.get_by_label("Queue")).to_have_value("8")

        answer = await page.request.get(f"{full_portal_system.urls['notifications']}/v1/settings/ticketing",
                                        headers=auth(ADMIN))
        ticketing = await answer.json()
        assert (ticketing["queue_id"], ticketing["issue_type_id"], ticketing["priority"]) == (8, 3, 1)
        switches = await (await page.request.get(
            f"{full_portal_system.urls['notifications']}/v1/settings/notifications", headers=auth(ADMIN))).json()
        assert switches["payment.succeeded"] == {"email": False, "ticket": True}


async def test_an_admin_sets_the_past_due_reminder_days(full_portal_system, page):
    portal, notifications = full_portal_system.urls["portal"], full_portal_system.urls["notifications"]
    await sign_in(page, portal, "admin@msp.example")
    await page.goto(f"{portal}/settings/notifications")
    days = page.get_by_label("Days after the due date")
    await expect(days).to_have_value("1, 7, 14")
    await expect(page.get_by_role("row").filter(has_text="Invoice past due").get_by_label("Email")).to_be_checked()

    await days.fill("3, 10")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Settings saved")
    await expect(days).to_have_value("3, 10")
    stored = await (await page.request.get(f"{notifications}/v1/settings/reminders", headers=auth(ADMIN))).json()
    assert stored == {"days_after_due": [3, 10]}

    await days.fill("7, next week")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("Reminder days must be whole numbers")
    await days.fill("400")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_contain_text("from 1 to 365")
    stored = await (await page.request.get(f"{notifications}/v1/settings/reminders", headers=auth(ADMIN))).json()
    assert stored == {"days_after_due": [3, 10]}

    await days.fill("")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("status")).to_have_text("Settings saved")
    stored = await (await page.request.get(f"{notifications}/v1/settings/reminders", headers=auth(ADMIN))).json()
    assert stored == {"days_after_due": []}  # no reminders
