"""Invitations end to end: staff invite a contact, the email arrives once (through notifications) in the
SMTP sink, the link sets a password and signs in to the organization's own invoices; a used, an expired
and a forged link each get a clear page; a contact deactivated in the PSA can no longer sign in."""
from __future__ import annotations

import asyncio
import re

import aiohttp
import asyncpg
import pytest
from playwright.async_api import expect

from tests.browser.billing_world import ORGANIZATION, billed_world
from tests.browser.conftest import sign_in
from tests.support import eventually

pytestmark = pytest.mark.timeout(240)
LINK = re.compile(r"https?://\S+/invitations/[A-Za-z0-9_-]+")


async def invitation_links(sink_url: str, to: str) -> list[str]:
    async with aiohttp.ClientSession() as http, http.get(f"{sink_url}/_sim/messages") as answer:
        messages = await answer.json()
    return [LINK.search(m["body"]).group(0) for m in messages if to in str(m["to"]) and LINK.search(m["body"])]


async def invite(page, portal: str, contact: str = "Ada Payer") -> None:  # type: ignore[no-untyped-def]
    await page.goto(f"{portal}/settings/client-profiles")
    await page.get_by_role("link", name="Invite").click()
    await page.get_by_label("Organization").fill(ORGANIZATION)
    await page.get_by_role("button", name="Show contacts").click()
    await page.get_by_role("button", name=f"Invite {contact}").click()
    await expect(page.get_by_role("status")).to_have_text("Invitation sent to ap@acme.example")


async def test_an_invited_contact_sets_a_password_and_sees_only_its_organization(full_portal_system, gateway_sim,
                                                                                 smtp_sink, page, database_url):
    async with billed_world(full_portal_system, gateway_sim) as world:
        number = (await world.invoice_view(await world.invoice(9901, "75.00")))["invoice_number"]
        await sign_in(page, world.portal, "admin@msp.example")
        await eventually(lambda: _known_contact(database_url), timeout=30)  # the portal's copy of the directory
        await invite(page, world.portal)
        links = await eventually(lambda: invitation_links(smtp_sink.http_url, "ap@acme.example"), timeout=30)
        await page.get_by_role("button", name="Sign out").click()

        await page.goto(links[0])
        await expect(page.get_by_role("heading", name="Set your password")).to_be_visible()
        await page.get_by_label("Password", exact=True).fill("a-good-long-password")
        await page.get_by_label("Confirm password").fill("another-long-password")
        await page.get_by_role("button", name="Set password").click()
        await expect(page.get_by_role("alert")).to_have_text("The two passwords differ.")
        await page.get_by_label("Password", exact=True).fill("a-good-long-password")
        await page.get_by_label("Confirm password").fill("a-good-long-password")
        await page.get_by_role("button", name="Set password").click()
        await expect(page).to_have_url(f"{world.portal}/portal/invoices")
        await expect(page.get_by_role("row").filter(has_text=number)).to_be_visible()

        await page.get_by_role("button", name="Sign out").click()
        answer = await page.goto(links[0])
        assert answer is not None and answer.status == 410
        await expect(page.get_by_role("heading", name="Invitation already used")).to_be_visible()
        answer = await page.goto(links[0][:-6] + "forged")
        assert answer is not None and answer.status == 404
        await expect(page.get_by_role("heading", name="Invitation not found")).to_be_visible()
        await sign_in(page, world.portal, "ap@acme.example", "a-good-long-password")
        await expect(page).to_have_url(f"{world.portal}/portal/invoices")

        await asyncio.sleep(1.0)  # a second email, had there been one, would be in by now
        assert len(await invitation_links(smtp_sink.http_url, "ap@acme.example")) == 1  # sent once

        # Ada is deactivated in the PSA: after a sync she can no longer sign in, nor go on.
        await world.sims.psa_call("PATCH", "/_sim/contacts/901", {"isActive": 0})
        await world.sync_now()
        await eventually(lambda: _known_contact(database_url, active=False), timeout=30)
        await page.reload()
        await expect(page).to_have_url(re.compile(r"/login"))
        await sign_in(page, world.portal, "ap@acme.example", "a-good-long-password")
        await expect(page.get_by_role("alert")).to_contain_text("do not match an active account")


async def test_an_expired_invitation_gets_a_clear_page(full_portal_system, gateway_sim, smtp_sink, page, database_url):
    async with billed_world(full_portal_system, gateway_sim) as world:
        await sign_in(page, world.portal, "admin@msp.example")
        await eventually(lambda: _known_contact(database_url), timeout=30)
        await invite(page, world.portal)
        links = await eventually(lambda: invitation_links(smtp_sink.http_url, "ap@acme.example"), timeout=30)
        conn = await asyncpg.connect(database_url)
        try:
            await conn.execute("UPDATE portal.invitations SET expires_at = now() - interval '1 minute'")
        finally:
            await conn.close()
        answer = await page.goto(links[0])
        assert answer is not None and answer.status == 410
        await expect(page.get_by_role("heading", name="Invitation expired")).to_be_visible()


async def _known_contact(database_url: str, *, active: bool = True) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        return await conn.fetchval("SELECT active FROM portal.contacts WHERE contact_id = 'autotask:901'") is active
    finally:
        await conn.close()
