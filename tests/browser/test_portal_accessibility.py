"""axe-core (through axe-playwright-python) finds no serious or critical accessibility violation on the
client's pages and the staff payment pages, at desktop width and at 375 px."""
from __future__ import annotations

import pytest
from axe_playwright_python.async_playwright import Axe

from tests.browser.billing_world import billed_world, staff_pays
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.timeout(240)
WIDTHS = (1280, 375)


async def serious_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    results = await Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


async def test_client_and_payment_pages_have_no_serious_accessibility_violations(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        invoice_id = await world.invoice(9601, "310.00")
        paid = await staff_pays(world, invoice_id, amount="10.00")
        found: dict[str, list[str]] = {}
        await sign_in(page, world.portal, "pat@acme.example")
        client_pages = ["/portal/invoices", "/portal/payments", "/portal/wallet", "/portal/quotes", "/portal/autopay",
                        f"/invoices/{invoice_id}", f"/invoices/{invoice_id}/pay", f"/payments/{paid['payment_id']}"]
        for width in WIDTHS:
            await page.set_viewport_size({"width": width, "height": 800})
            for path in client_pages:
                await page.goto(world.portal + path)
                if problems := await serious_violations(page):
                    found[f"{path} at {width}px"] = problems
        await page.get_by_role("button", name="Sign out").click()
        await page.set_viewport_size({"width": 1280, "height": 800})
        for path in ("/login",):
            await page.goto(world.portal + path)
            if problems := await serious_violations(page):
                found[path] = problems
        assert not found, found
        await page.set_content("<html lang='en'><title>t</title><body><main><input></main></body></html>")
        assert any(v.startswith("label (critical)") for v in await serious_violations(page))  # the check bites
