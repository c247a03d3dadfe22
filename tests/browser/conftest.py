"""Browser tests: Playwright driving Debian's Chromium against the portal and the services as real
processes. A failed test leaves a screenshot and the page's HTML in its temporary folder, and prints
their paths."""
from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright

from billing_shared.secrets import new_key
from billing_simulators.gateway import GatewaySimConfig
from billing_simulators.gateway import create_app as create_gateway_sim
from billing_simulators.smtp_sink import SinkHandle, start_sink
from devstack.ports import free_port
from tests.e2e.conftest import TOKENS, System

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Chromium's own background traffic would be refused by the machine's closed network, many times over.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
PASSWORD = "browser-test-password"
USERS = [
    {"email": "admin@msp.example", "password": PASSWORD, "role": "admin"},
    {"email": "manager@msp.example", "password": PASSWORD, "role": "manager"},
    {"email": "pat@acme.example", "password": PASSWORD, "role": "client",
     "organization_id": "autotask:678", "contact_id": "autotask:901"},
    {"email": "lee@birch.example", "password": PASSWORD, "role": "client",
     "organization_id": "autotask:679", "contact_id": "autotask:903"},
]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


SIGNING_KEY = "browser-signing-key"


@pytest.fixture
def payments_port() -> int:
    return free_port()


@pytest.fixture
async def gateway_sim(payments_port: int) -> AsyncIterator[str]:
    """The gateway simulator in this process; its webhooks go to the payments service of portal_system."""
    port = free_port()
    webhooks = f"http://127.0.0.1:{payments_port}/v1/webhooks/gateway"
    runner = web.AppRunner(create_gateway_sim(GatewaySimConfig(webhook_signing_key=SIGNING_KEY,
                                                               webhook_url=webhooks)))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _portal_system(env: dict[str, str], log_dir, payments_port: int, *,
                         notifications: bool) -> AsyncIterator[System]:
    system = System(env, log_dir)
    system.urls["payments"] = f"http://127.0.0.1:{payments_port}"
    system.urls["portal"] = f"http://127.0.0.1:{free_port()}"  # known first: the links it emails name it
    system.env["PORTAL_PUBLIC_URL"] = system.urls["portal"]
    try:
        for name in ("sync", "payments", *(("notifications",) if notifications else ())):
            await system.start(name)
        system.env.update(SYNC_URL=system.urls["sync"], PAYMENTS_URL=system.urls["payments"],
                          # not started: its pages show that it is down
                          NOTIFICATIONS_URL=system.urls.get("notifications", "http://127.0.0.1:9"))
        await system.start("portal")
        yield system
    finally:
        system.stop_all()


def _env(infra, database_url: str, topic_prefix: str, gateway_sim: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url, "KAFKA_BOOTSTRAP_SERVERS": infra.kafka_bootstrap,
        "KAFKA_TOPIC_PREFIX": topic_prefix, "API_TOKENS": json.dumps(TOKENS), "SECRETS_KEY": new_key(),
        "IDENTITY_KEY": secrets.token_urlsafe(48), "PORTAL_USERS": json.dumps(USERS),
        "LOG_FORMAT": "json", "OUTBOX_POLL_SECONDS": "0.1", "SCHEDULER_TICK_SECONDS": "0.5",
        "WRITEBACK_POLL_SECONDS": "0.5", "WRITEBACK_RETRY_SECONDS": "0.2",
        "GATEWAY_BASE_URL": gateway_sim, "GATEWAY_WEBHOOK_SIGNING_KEY": SIGNING_KEY, "GATEWAY_TIMEOUT_SECONDS": "2",
        "RECONCILE_INTERVAL_SECONDS": "0.3", "PENDING_GRACE_SECONDS": "3",
        "PSA_USERNAME": "", "PSA_SECRET": "", "PSA_INTEGRATION_CODE": "",
    }


@pytest.fixture
async def portal_system(infra, database_url, topic_prefix, tmp_path, gateway_sim,
                        payments_port) -> AsyncIterator[System]:
    """sync, payments and the portal as processes sharing one identity key, and the gateway simulator."""
    env = _env(infra, database_url, topic_prefix, gateway_sim)
    async for system in _portal_system(env, tmp_path / "logs", payments_port, notifications=False):
        yield system


@pytest.fixture
async def smtp_sink() -> AsyncIterator[SinkHandle]:
    sink = await start_sink("127.0.0.1", smtp_port=0, http_port=0)
    try:
        yield sink
    finally:
        await sink.stop()


@pytest.fixture
async def full_portal_system(infra, database_url, topic_prefix, tmp_path, gateway_sim, payments_port,
                             smtp_sink) -> AsyncIterator[System]:
    """As portal_system, with the notifications service too (mail to the SMTP sink; no PSA credentials)."""
    env = {**_env(infra, database_url, topic_prefix, gateway_sim), "SMTP_HOST": "127.0.0.1",
           "SMTP_PORT": str(smtp_sink.smtp_port), "DELIVERY_POLL_SECONDS": "0.1"}
    async for system in _portal_system(env, tmp_path / "logs", payments_port, notifications=True):
        yield system


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(request, browser: Browser, tmp_path) -> AsyncIterator[Page]:
    context = await browser.new_context()
    opened = await context.new_page()
    opened.set_default_timeout(10_000)
    try:
        yield opened
    finally:
        if request.node.stash.get(FAILED, False):
            shot, html = tmp_path / "failure.png", tmp_path / "failure.html"
            try:
                await opened.screenshot(path=str(shot), full_page=True)
                html.write_text(await opened.content())
                print(f"\nbrowser test failed at {opened.url}: screenshot {shot}, page {html}")
            except Exception as exc:  # noqa: BLE001 - the test's own failure matters more
                print(f"\nbrowser test failed; no screenshot: {exc}")
        await context.close()


async def sign_in(page: Page, base_url: str, email: str, password: str = PASSWORD) -> None:
    await page.goto(f"{base_url}/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def type_card(page: Page, number: str = "4111 1111 1111 1111", exp: str = "12/30", cvv: str = "123") -> None:
    """Into the gateway's hosted fields (frames of the gateway's origin)."""
    await page.frame_locator("iframe[title='Card Number']").get_by_label("Card Number").fill(number)
    await page.frame_locator("iframe[title='Expiration (MM/YY)']").get_by_label("Expiration (MM/YY)").fill(exp)
    await page.frame_locator("iframe[title='CVV']").get_by_label("CVV").fill(cvv)
