"""Signing in and out of the portal in a real browser, and what each kind of person may open."""
from __future__ import annotations

import re

import aiohttp
import asyncpg
import pytest
from playwright.async_api import expect

from tests.browser.conftest import PASSWORD, sign_in

pytestmark = pytest.mark.timeout(120)


async def test_a_manager_signs_in_sees_the_organizations_and_signs_out(portal_system, page):
    portal = portal_system.urls["portal"]
    await sign_in(page, portal, "manager@msp.example")
    await expect(page).to_have_url(f"{portal}/organizations")
    await expect(page.get_by_role("heading", name="Organizations")).to_be_visible()
    await expect(page.get_by_text("No organizations yet")).to_be_visible()
    cookie = next(c for c in await page.context.cookies() if c["name"] == "billing_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(re.compile(r"/login"))
    await page.goto(f"{portal}/organizations")
    await expect(page).to_have_url(re.compile(r"/login\?next="))


async def test_a_wrong_password_is_refused_with_a_sentence_and_the_email_kept(portal_system, page):
    portal = portal_system.urls["portal"]
    await sign_in(page, portal, "manager@msp.example", "not-the-password")
    await expect(page.get_by_role("alert")).to_have_text("That email and password do not match an active account.")
    await expect(page.get_by_label("Email")).to_have_value("manager@msp.example")


async def test_a_client_sees_its_invoices_and_cannot_open_staff_pages(portal_system, page):
    portal = portal_system.urls["portal"]
    await sign_in(page, portal, "pat@acme.example")
    await expect(page).to_have_url(f"{portal}/portal/invoices")
    await expect(page.get_by_role("heading", name="Invoices")).to_be_visible()
    for staff_page in ("/organizations", "/operations", "/audit"):
        answer = await page.goto(f"{portal}{staff_page}")
        assert answer is not None and answer.status == 404, staff_page
        await expect(page.get_by_role("heading", name="Not found")).to_be_visible()


async def test_an_admin_sees_each_service_health_and_the_audit_log_of_sign_ins(portal_system, page):
    portal = portal_system.urls["portal"]
    await sign_in(page, portal, "admin@msp.example")
    await expect(page).to_have_url(f"{portal}/integrations")
    await page.get_by_role("link", name="Operations").click()
    rows = page.locator("table").first.get_by_role("row")
    await expect(rows.filter(has_text="sync")).to_contain_text("Healthy")
    await expect(rows.filter(has_text="payments")).to_contain_text("Healthy")
    await expect(rows.filter(has_text="notifications")).to_contain_text("Not answering")
    dead_letters = page.locator("table").nth(1).get_by_role("row")
    await expect(dead_letters.filter(has_text="billing.payments.v1")).to_contain_text("0")
    await expect(dead_letters).to_have_count(8)  # a header and seven topics
    await page.get_by_role("link", name="Audit log").click()
    await expect(page.get_by_role("row").filter(has_text="admin@msp.example")).to_contain_text("signed in")


async def test_sign_in_is_throttled_per_account_after_repeated_failures(portal_system, page):
    portal = portal_system.urls["portal"]
    for _ in range(5):
        await sign_in(page, portal, "pat@acme.example", "wrong")
        await expect(page.get_by_role("alert")).to_contain_text("do not match")
    await sign_in(page, portal, "pat@acme.example", PASSWORD)  # right, but too late
    await expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
    await sign_in(page, portal, "manager@msp.example")  # another account from the same address still may
    await expect(page).to_have_url(f"{portal}/organizations")


async def test_a_form_without_its_csrf_token_changes_nothing(portal_system, page):
    portal = portal_system.urls["portal"]
    await sign_in(page, portal, "manager@msp.example")
    await expect(page).to_have_url(f"{portal}/organizations")
    session = next(c["value"] for c in await page.context.cookies() if c["name"] == "billing_session")
    async with aiohttp.ClientSession(cookies={"billing_session": session}) as http:
        async with http.post(f"{portal}/logout", data={"csrf_token": "forged"}, allow_redirects=False) as answer:
            assert answer.status == 403
            assert "This form has expired" in await answer.text()
    async with aiohttp.ClientSession() as stranger:  # the sign-in form too: no login CSRF from other sites
        async with stranger.post(f"{portal}/login", data={"email": "manager@msp.example", "password": PASSWORD},
                                 allow_redirects=False) as answer:
            assert answer.status == 403
    await page.reload()
    await expect(page).to_have_url(f"{portal}/organizations")  # still signed in


async def test_passwords_are_stored_as_argon2_hashes_and_sessions_as_digests(portal_system, page, database_url):
    portal = portal_system.urls["portal"]
    await sign_in(page, portal, "manager@msp.example")
    await expect(page).to_have_url(f"{portal}/organizations")
    session = next(c["value"] for c in await page.context.cookies() if c["name"] == "billing_session")
    conn = await asyncpg.connect(database_url)
    try:
        hashes = await conn.fetch("SELECT password_hash FROM portal.users")
        tokens = await conn.fetch("SELECT token_hash FROM portal.sessions")
    finally:
        await conn.close()
    assert len(hashes) == 4 and all(h["password_hash"].startswith("$argon2id$") for h in hashes)
    assert all(PASSWORD not in h["password_hash"] for h in hashes)
    assert tokens and all(session.encode() not in bytes(t["token_hash"]) for t in tokens)


async def test_a_service_that_is_down_is_named_in_a_sentence_never_a_stack_trace(portal_system, page):
    portal = portal_system.urls["portal"]  # the notifications service is not started here
    await sign_in(page, portal, "admin@msp.example")
    answer = await page.goto(f"{portal}/settings/notifications")
    assert answer is not None and answer.status == 503
    await expect(page.get_by_role("heading", name="Service unavailable")).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_text(
        "The notifications service is not answering right now. Nothing was changed; try again in a moment.")
    assert "Traceback" not in await page.content()


async def test_every_portal_response_carries_the_security_headers(portal_system, page):
    portal = portal_system.urls["portal"]
    await sign_in(page, portal, "manager@msp.example")
    for path in ("/login", "/organizations", "/static/style.css", "/no-such-page", "/payments/not-a-payment"):
        answer = await page.request.get(portal + path, max_redirects=0)
        headers = answer.headers
        csp = headers.get("content-security-policy", "")
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, path
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("referrer-policy") == "same-origin", path
    assert "<script>" not in await page.content()  # no inline script anywhere: the CSP would refuse it
