"""What a person can reach through the portal is what the services let that person reach: a client of
another organization gets a not-found page for every URL of Acme's objects, and staff pages are not
there for clients. And card numbers typed into the hosted fields never reach the portal or the services."""
from __future__ import annotations

import asyncpg
import pytest
from playwright.async_api import expect

from tests.browser.billing_world import billed_world, staff_pays
from tests.browser.conftest import sign_in, type_card
from tests.browser.test_portal_staff_payment import open_order_summary

pytestmark = pytest.mark.timeout(240)


async def test_a_client_of_another_organization_finds_nothing_of_acme(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        invoice_id = await world.invoice(9301, "410.00")
        paid = await staff_pays(world, invoice_id, amount="10.00")
        method = await world.api("payments", "POST", "/v1/organizations/autotask:678/wallet",
                                 {"token": "tok_visa_approved", "contact_id": "autotask:901"}, expect=201)
        await sign_in(page, world.portal, "lee@birch.example")
        await expect(page).to_have_url(f"{world.portal}/portal/invoices")
        acme = [f"/invoices/{invoice_id}", f"/invoices/{invoice_id}/pay", f"/invoices/{invoice_id}/image",
                f"/payments/{paid['payment_id']}", f"/invoices/{invoice_id}/pay/result/{paid['payment_id']}",
                f"/portal/wallet/{method['method_id']}/remove", "/organizations/autotask:678/invoices",
                "/organizations", "/payments", "/settings/payment-processing", "/integrations", "/audit"]
        for path in acme:
            answer = await page.goto(world.portal + path)
            assert answer is not None and answer.status == 404, (path, answer.status if answer else None)
            assert "410.00" not in await page.content()
        await page.goto(f"{world.portal}/portal/wallet/{method['method_id']}/remove")
        removal = await page.request.post(f"{world.portal}/portal/wallet/{method['method_id']}/remove",
                                          form={"csrf_token": "x"})
        assert removal.status == 403  # and with a valid form token the payments service answers not found:
        await page.goto(f"{world.portal}/portal/wallet")
        token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
        removal = await page.request.post(f"{world.portal}/portal/wallet/{method['method_id']}/remove",
                                          form={"csrf_token": token or ""})
        assert removal.status == 404
        still = await world.api("payments", "GET", "/v1/organizations/autotask:678/wallet")
        assert [m["method_id"] for m in still["items"]] == [method["method_id"]]
        for text in ("410.00", invoice_id):
            await page.goto(f"{world.portal}/portal/invoices")
            assert text not in await page.content()


async def test_a_card_typed_in_the_hosted_fields_reaches_neither_the_portal_nor_the_services(
        portal_system, gateway_sim, page, database_url):
    async with billed_world(portal_system, gateway_sim) as world:
        number = (await world.invoice_view(await world.invoice(9401, "75.00")))["invoice_number"]
        sent_to_portal: list[str] = []
        page.on("request", lambda r: sent_to_portal.append(f"{r.url} {r.post_data or ''}")
                if r.url.startswith(world.portal) else None)
        await sign_in(page, world.portal, "manager@msp.example")
        await open_order_summary(page, world.portal, number)
        await type_card(page, "4111 1111 1111 1111")
        await page.get_by_label("Save to wallet").check()
        await page.get_by_role("button", name="Pay").click()
        await expect(page.get_by_role("heading", name="Payment approved")).to_be_visible()

        digits = ("4111111111111111", "4111 1111 1111 1111")
        assert not [r for r in sent_to_portal if any(d in r for d in digits)]
        for name, managed in portal_system.processes.items():
            log = managed.log_file.read_text(errors="replace")
            assert not any(d in log for d in digits), name
        conn = await asyncpg.connect(database_url)
        try:
            tables = await conn.fetch("SELECT table_schema, table_name FROM information_schema.tables "
                                      "WHERE table_schema IN ('portal', 'payments', 'sync', 'notifications')")
            for t in tables:
                rows = await conn.fetch(f'SELECT t::text AS row FROM "{t["table_schema"]}"."{t["table_name"]}" t')
                assert not any(d in r["row"] for r in rows for d in digits), t
        finally:
            await conn.close()
