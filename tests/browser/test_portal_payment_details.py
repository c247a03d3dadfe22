"""Payment Search and View Payment Details in a real browser, with DOMAIN.md's worked example:
A 500.00 and B 300.00; pay A; void A; apply to B -> applied 300.00, refund 200.00, rows sale 500.00 and
refund 200.00. Alternatives: cancel after paying; a full refund of what is unapplied."""
from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.browser.billing_world import ORGANIZATION, BilledWorld, billed_world, staff_pays
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.timeout(240)


async def amounts(page: Page) -> dict[str, str]:
    shown = {}
    for name in ("sale", "applied", "unapplied", "refund"):
        text = await page.locator(f"dd[data-amount='{name}']").text_content()
        shown[name] = (text or "").split()[0]
    return shown


async def open_details(page: Page, world: BilledWorld, payment_id: str) -> None:
    await page.goto(f"{world.portal}/payments?organization_id={ORGANIZATION}")
    await page.locator(f"a[href='/payments/{payment_id}']").click()
    await expect(page.get_by_role("heading", name="Payment Details")).to_be_visible()


async def voided(world: BilledWorld, invoice_id: str) -> None:
    async with world.http.post(f"{world.sims.psa.url}/_sim/invoices/{invoice_id.split(':')[1]}/void") as answer:
        assert answer.status < 300
    await world.sync_now()

    async def gone() -> bool:
        return (await world.invoice_view(invoice_id))["status"] == "voided"
    from tests.support import eventually
    await eventually(gone, timeout=30, interval=0.3)


async def test_the_worked_example_void_then_apply_refunds_the_difference(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        a = await world.invoice(8401, "500.00")
        b = await world.invoice(8402, "300.00")
        paid = await staff_pays(world, a)
        await voided(world, a)
        await sign_in(page, world.portal, "manager@msp.example")
        await open_details(page, world, paid["payment_id"])

        async def unapplied_500() -> bool:
            await page.reload()
            return (await amounts(page))["unapplied"] == "500.00"
        from tests.support import eventually
        await eventually(unapplied_500, timeout=20, interval=0.5)
        assert await amounts(page) == {"sale": "500.00", "applied": "0.00", "unapplied": "500.00", "refund": "0.00"}

        b_number = (await world.invoice_view(b))["invoice_number"]
        await page.get_by_label("Invoice to apply to").select_option(label=f"{b_number}, balance 300.00")
        await page.get_by_role("button", name="Apply").click()
        await page.get_by_role("button", name="Confirm").click()
        await expect(page.get_by_role("status")).to_have_text("Apply: done")
        assert await amounts(page) == {"sale": "500.00", "applied": "300.00", "unapplied": "0.00", "refund": "200.00"}
        rows = page.locator("table.transactions tbody tr")
        await expect(rows).to_have_count(2)
        await expect(rows.nth(0)).to_contain_text("Sale")
        await expect(rows.nth(0)).to_contain_text("500.00")
        await expect(rows.nth(1)).to_contain_text("Refund")
        await expect(rows.nth(1)).to_contain_text("200.00")
        assert (await world.invoice_view(b))["status"] == "paid"


async def test_cancel_after_paying_zeroes_the_payment_and_reopens_the_invoice(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        a = await world.invoice(8501, "500.00")
        paid = await staff_pays(world, a)
        await sign_in(page, world.portal, "manager@msp.example")
        await open_details(page, world, paid["payment_id"])
        await page.get_by_role("button", name="Cancel payment").click()
        await expect(page.get_by_role("heading", name="Cancel this payment?")).to_be_visible()
        await page.get_by_role("button", name="Confirm").click()
        await expect(page.get_by_role("status")).to_have_text("Cancel payment: done")
        assert await amounts(page) == {"sale": "0.00", "applied": "0.00", "unapplied": "0.00", "refund": "0.00"}
        await expect(page.locator("dl.amounts")).to_contain_text("Cancelled")
        invoice = await world.invoice_view(a)
        assert (invoice["balance"], invoice["paid_on"], invoice["payable"]) == ("500.00", None, True)


async def test_a_full_refund_of_unapplied_money_and_a_refused_action_explained(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        a = await world.invoice(8601, "500.00")
        paid = await staff_pays(world, a)
        await sign_in(page, world.portal, "manager@msp.example")
        # Nothing is unapplied yet: a refund typed into the address bar is refused with a sentence.
        await page.goto(f"{world.portal}/payments/{paid['payment_id']}/refund")
        await page.get_by_role("button", name="Confirm").click()
        await expect(page.get_by_role("alert")).to_have_text("This payment has no unapplied money.")

        await voided(world, a)
        await open_details(page, world, paid["payment_id"])
        from tests.support import eventually

        async def unapplied() -> bool:
            await page.reload()
            return (await amounts(page))["unapplied"] == "500.00"
        await eventually(unapplied, timeout=20, interval=0.5)
        await page.get_by_role("button", name="Refund").click()
        await page.get_by_role("button", name="Confirm").click()
        await expect(page.get_by_role("status")).to_have_text("Refund: done")
        assert await amounts(page) == {"sale": "500.00", "applied": "0.00", "unapplied": "0.00", "refund": "500.00"}


async def test_a_client_sees_its_payment_without_the_staff_actions(portal_system, gateway_sim, page):
    async with billed_world(portal_system, gateway_sim) as world:
        paid = await staff_pays(world, await world.invoice(8701, "120.00"))
        await sign_in(page, world.portal, "pat@acme.example")
        await page.goto(f"{world.portal}/payments/{paid['payment_id']}")
        await expect(page.get_by_role("heading", name="Payment Details")).to_be_visible()
        await expect(page.get_by_role("button", name="Cancel payment")).to_have_count(0)
        answer = await page.goto(f"{world.portal}/payments")
        assert answer is not None and answer.status == 404


async def test_a_refund_confirmed_twice_refunds_once(portal_system, gateway_sim, page):
    """A double click, or the browser sending the confirm form again, must not refund twice: the confirm
    page carries one request key, sent to payments as the Idempotency-Key."""
    async with billed_world(portal_system, gateway_sim) as world:
        a = await world.invoice(8801, "500.00")
        paid = await staff_pays(world, a)
        await voided(world, a)
        await sign_in(page, world.portal, "manager@msp.example")
        from tests.support import eventually

        async def unapplied() -> bool:
            await open_details(page, world, paid["payment_id"])
            return (await amounts(page))["unapplied"] == "500.00"
        await eventually(unapplied, timeout=20, interval=0.5)
        await page.goto(f"{world.portal}/payments/{paid['payment_id']}/refund?amount=100.00")
        statuses = await page.evaluate("""async () => {
            const form = document.querySelector("form.actions");
            const send = () => fetch(form.action, {method: "POST", body: new FormData(form), redirect: "manual"});
            const answers = await Promise.all([send(), send()]);
            return answers.map(a => a.type === "opaqueredirect" ? 303 : a.status);
        }""")
        assert statuses == [303, 303]  # both answered as done
        await open_details(page, world, paid["payment_id"])
        assert await amounts(page) == {"sale": "500.00", "applied": "0.00", "unapplied": "400.00", "refund": "100.00"}
