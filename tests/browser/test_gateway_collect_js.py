"""The gateway simulator's Collect.js: a merchant page gets a token for a card typed into frames of the
gateway's origin, and never the card number."""
from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web
from playwright.async_api import expect

from devstack.ports import free_port

pytestmark = pytest.mark.timeout(60)

MERCHANT_PAGE = """<!doctype html><html><body>
<div id="ccnumber"></div><div id="ccexp"></div><div id="cvv"></div>
<div id="checkaba"></div><div id="checkaccount"></div><div id="checkname"></div>
<button id="pay">Pay</button><output id="token"></output><output id="problem"></output>
<script src="{gateway}/token/Collect.js" data-tokenization-key="{key}"></script>
<script>
  const kind = new URLSearchParams(location.search).get("kind") || "card";
  const fields = kind === "card"
    ? {{ccnumber: {{selector: "#ccnumber"}}, ccexp: {{selector: "#ccexp"}}, cvv: {{selector: "#cvv"}}}}
    : {{checkaba: {{selector: "#checkaba"}}, checkaccount: {{selector: "#checkaccount"}},
        checkname: {{selector: "#checkname"}}}};
  CollectJS.configure({{variant: "inline", fields,
    callback: (r) => {{ document.getElementById("token").textContent = r.token + " " + JSON.stringify(r.summary); }},
    validationCallback: (f, ok, message) => {{ document.getElementById("problem").textContent = message; }}}});
  document.getElementById("pay").addEventListener("click", () => CollectJS.startPaymentRequest());
</script></body></html>"""


@pytest.fixture
async def merchant(gateway_sim):
    async def show(request: web.Request) -> web.Response:
        key = request.query.get("key", "sim-public-key")
        return web.Response(text=MERCHANT_PAGE.format(gateway=gateway_sim, key=key), content_type="text/html")

    app = web.Application()
    app.router.add_get("/checkout", show)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_a_card_typed_in_the_hosted_fields_becomes_a_token_the_gateway_can_charge(merchant, gateway_sim, page):
    requests_seen: list[str] = []
    page.on("request", lambda r: requests_seen.append(f"{r.url} {r.post_data or ''}"))
    await page.goto(f"{merchant}/checkout")
    await page.frame_locator("iframe[title='Card Number']").get_by_label("Card Number").fill("4111 1111 1111 1111")
    await page.frame_locator("iframe[title='Expiration (MM/YY)']").get_by_label("Expiration (MM/YY)").fill("12/30")
    await page.frame_locator("iframe[title='CVV']").get_by_label("CVV").fill("123")
    await page.get_by_role("button", name="Pay").click()
    await expect(page.locator("#token")).to_contain_text('"last4":"1111"')
    token = (await page.locator("#token").text_content() or "").split()[0]
    assert token.startswith("tok_")
    merchant_traffic = [r for r in requests_seen if r.startswith(merchant)]
    assert merchant_traffic and not any("4111" in r for r in merchant_traffic)  # the card went to the gateway only

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{gateway_sim}/api/transact.php", data={
                "security_key": "sim-private-key", "type": "sale", "amount": "10.00", "payment_token": token}) as sale:
            assert "response=1" in await sale.text()


async def test_a_bad_card_number_is_reported_to_the_page_without_a_token(merchant, page):
    await page.goto(f"{merchant}/checkout")
    await page.frame_locator("iframe[title='Card Number']").get_by_label("Card Number").fill("4111 1111 1111 1112")
    await page.frame_locator("iframe[title='Expiration (MM/YY)']").get_by_label("Expiration (MM/YY)").fill("12/30")
    await page.get_by_role("button", name="Pay").click()
    await expect(page.locator("#problem")).to_have_text("card number is not valid")
    await expect(page.locator("#token")).to_have_text("")


async def test_an_echeck_typed_in_the_hosted_fields_becomes_a_token(merchant, page):
    await page.goto(f"{merchant}/checkout?kind=check")
    await page.frame_locator("iframe[title='Routing Number']").get_by_label("Routing Number").fill("123123123")
    await page.frame_locator("iframe[title='Account Number']").get_by_label("Account Number").fill("000123456789")
    await page.frame_locator("iframe[title='Name on Account']").get_by_label("Name on Account").fill("Ada Payer")
    await page.get_by_role("button", name="Pay").click()
    await expect(page.locator("#token")).to_contain_text('"type":"echeck"')


async def test_a_wrong_tokenization_key_gets_no_token(merchant, page):
    await page.goto(f"{merchant}/checkout?key=wrong")
    await page.frame_locator("iframe[title='Card Number']").get_by_label("Card Number").fill("4111111111111111")
    await page.frame_locator("iframe[title='Expiration (MM/YY)']").get_by_label("Expiration (MM/YY)").fill("12/30")
    await page.get_by_role("button", name="Pay").click()
    await expect(page.locator("#problem")).to_have_text("Invalid tokenization key")
