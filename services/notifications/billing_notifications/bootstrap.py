"""The only place the notifications service's concrete adapters and consumers are chosen."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from aiohttp import web

from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.events.sync import SyncStalled
from billing_shared.psa import AutotaskClient, RequestBudget, RetryPolicy as PsaRetryPolicy
from billing_shared.runtime import RUNTIME, Runtime
from billing_shared.web.app import create_app

from billing_notifications.adapters import directory_store
from billing_notifications.adapters.psa_tickets import PsaTicketDesk
from billing_notifications.adapters.smtp_mailer import SmtpMailer
from billing_notifications.config import NotificationsSettings
from billing_notifications.domain.delivery_policy import RetryPolicy
from billing_notifications.entrypoints.consumers import consumers
from billing_notifications.entrypoints.freshness import FreshnessView
from billing_notifications.entrypoints.http import routes
from billing_notifications.service.channels import EmailChannel, TicketChannel
from billing_notifications.service.delivery import DeliveryWorker
from billing_notifications.service.intake import Intake


def mailer(s: NotificationsSettings) -> SmtpMailer:
    password = s.smtp_password.get_secret_value() if s.smtp_password else None
    return SmtpMailer(host=s.smtp_host, port=s.smtp_port, sender=s.email_from, sender_name=s.email_from_name,
                      username=s.smtp_username, password=password, starttls=s.smtp_starttls,
                      timeout=s.smtp_timeout_seconds)


@asynccontextmanager
async def ticket_desk(s: NotificationsSettings) -> AsyncIterator[PsaTicketDesk | None]:
    if not s.psa_configured():
        yield None
        return
    async with aiohttp.ClientSession() as session:
        assert s.psa_username and s.psa_secret and s.psa_integration_code
        yield PsaTicketDesk(AutotaskClient(
            session, username=s.psa_username, secret=s.psa_secret.get_secret_value(),
            integration_code=s.psa_integration_code, base_url=s.psa_base_url, timeout=s.psa_timeout_seconds,
            retry=PsaRetryPolicy(attempts=s.psa_retry_attempts, base_delay=s.psa_retry_base_seconds,
                                 max_delay=max(s.psa_retry_base_seconds, 8.0)),
            budget=RequestBudget(min_backoff=min(0.25, s.psa_backoff_max_seconds),
                                 max_backoff=s.psa_backoff_max_seconds)))


def delivery_worker(runtime: Runtime, s: NotificationsSettings, desk: PsaTicketDesk | None) -> DeliveryWorker:
    async def recipients(organization_id: str) -> list[str]:
        async with runtime.pool.acquire() as conn:
            return await directory_store.recipients(conn, organization_id)

    channels = {"email": EmailChannel(mailer(s), recipients, s.staff_email), "ticket": TicketChannel(desk)}
    policy = RetryPolicy(base_seconds=s.retry_base_seconds, max_seconds=s.retry_max_seconds,
                         horizon_seconds=s.retry_horizon_seconds, wait_seconds=s.address_wait_seconds)
    return DeliveryWorker(runtime.uow, channels, policy, poll_seconds=s.delivery_poll_seconds,
                          concurrency=s.delivery_concurrency, lease_seconds=s.delivery_lease_seconds,
                          attempt_timeout=s.delivery_attempt_timeout_seconds)


def freshness_view(runtime: Runtime, s: NotificationsSettings) -> FreshnessView:
    async def publish(event: SyncStalled) -> None:
        await runtime.producer.send_and_wait(runtime.topics(BILLING_SYNC), event.to_json(),
                                             key=event.organization_id.encode())

    return FreshnessView(s, publish)


async def wire(runtime: Runtime) -> None:
    s: NotificationsSettings = runtime.settings  # type: ignore[assignment]
    for spec in consumers(Intake(staff_email=s.staff_email,
                                 invoice_max_age_days=s.invoice_available_max_age_days)):
        runtime.consume(spec.name, spec.topics, spec.handlers)

    async def deliver() -> None:
        async with ticket_desk(s) as desk:
            await delivery_worker(runtime, s, desk).run()

    runtime.spawn("delivery-worker", deliver)
    if s.freshness_enabled:
        runtime.spawn("sync-freshness", freshness_view(runtime, s).run)


def build_app(settings: NotificationsSettings) -> web.Application:
    app = create_app("billing-link notifications", settings, routes)
    runtime = Runtime(name="notifications", schema="notifications", package="billing_notifications",
                      settings=settings)
    app[RUNTIME] = runtime
    runtime.install(app, wire)
    return app
