"""The only place the notifications service's concrete adapters and consumers are chosen."""
from __future__ import annotations

import aiohttp
from aiohttp import web

from billing_shared.events.catalog import BILLING_SYNC
from billing_shared.events.sync import SyncStalled
from billing_shared.runtime import RUNTIME, Runtime
from billing_shared.secrets import SecretBox
from billing_shared.web.app import create_app
from billing_shared.web.deps import DepsSlot, install_slot

from billing_notifications.adapters import directory_store
from billing_notifications.adapters.smtp_mailer import SmtpMailer
from billing_notifications.config import NotificationsSettings
from billing_notifications.domain.delivery_policy import RetryPolicy
from billing_notifications.entrypoints.asyncapi import SURFACE
from billing_notifications.entrypoints.consumers import consumers
from billing_notifications.entrypoints.freshness import FreshnessView
from billing_notifications.entrypoints.http import routes
from billing_notifications.service.channels import EmailChannel, TicketChannel
from billing_notifications.service.delivery import DeliveryWorker
from billing_notifications.service.deps import Deps
from billing_notifications.service.desks import PsaDesks
from billing_notifications.service.intake import Intake
from billing_notifications.service.reminders import Reminders
from billing_notifications.service.webhooks import WebhookWorker


def mailer(s: NotificationsSettings) -> SmtpMailer:
    password = s.smtp_password.get_secret_value() if s.smtp_password else None
    return SmtpMailer(host=s.smtp_host, port=s.smtp_port, sender=s.email_from, sender_name=s.email_from_name,
                      username=s.smtp_username, password=password, starttls=s.smtp_starttls,
                      timeout=s.smtp_timeout_seconds, connections=s.smtp_connections)


def delivery_worker(deps: Deps, email: SmtpMailer) -> DeliveryWorker:
    s = deps.config

    async def recipients(organization_id: str) -> list[str]:
        async with deps.pool.acquire() as conn:
            return await directory_store.recipients(conn, organization_id)

    channels = {"email": EmailChannel(email, recipients, s.staff_email), "ticket": TicketChannel(deps.desks.desk)}
    policy = RetryPolicy(base_seconds=s.retry_base_seconds, max_seconds=s.retry_max_seconds,
                         horizon_seconds=s.retry_horizon_seconds, wait_seconds=s.address_wait_seconds)
    return DeliveryWorker(deps.uow, channels, policy, poll_seconds=s.delivery_poll_seconds,
                          concurrency=s.delivery_concurrency, lease_seconds=s.delivery_lease_seconds,
                          attempt_timeout=s.delivery_attempt_timeout_seconds,
                          lane_concurrency={"email": s.email_concurrency}, listen=True)


def freshness_view(runtime: Runtime, s: NotificationsSettings) -> FreshnessView:
    async def publish(event: SyncStalled) -> None:
        await runtime.producer.send_and_wait(runtime.topics(BILLING_SYNC), event.to_json(),
                                             key=event.organization_id.encode())

    return FreshnessView(s, publish)


async def wire(runtime: Runtime, slot: DepsSlot[Deps]) -> None:
    s: NotificationsSettings = runtime.settings  # type: ignore[assignment]
    http = aiohttp.ClientSession()
    runtime.close_at_stop(http.close)  # after the tasks that use it have stopped
    box = SecretBox(s.secrets_key.get_secret_value()) if s.secrets_key else None
    deps = slot.fill(Deps(pool=runtime.pool, uow=runtime.uow, box=box, desks=PsaDesks(runtime.pool, box, s, http),
                          config=s))
    intake = Intake(staff_email=s.staff_email, invoice_max_age_days=s.invoice_available_max_age_days)
    for spec in consumers(intake):
        runtime.consume(spec.name, spec.topics, spec.handlers)

    email = mailer(s)
    runtime.close_at_stop(email.close)  # after the delivery worker has stopped
    runtime.spawn("delivery-worker", delivery_worker(deps, email).run)
    if box is not None:  # without SECRETS_KEY no subscription (sealed secret) can exist
        runtime.spawn("webhook-delivery", WebhookWorker(deps, intake, http).run)
    runtime.spawn("past-due-reminders", Reminders(runtime.uow, intake, check_seconds=s.reminder_check_seconds,
                                                  catch_up_days=s.reminder_catch_up_days).run)
    if s.freshness_enabled:
        runtime.spawn("sync-freshness", freshness_view(runtime, s).run)


def build_app(settings: NotificationsSettings) -> web.Application:
    app = create_app("billing-link notifications", settings, routes, events=SURFACE)
    runtime = Runtime(name="notifications", schema="notifications", package="billing_notifications",
                      settings=settings)
    app[RUNTIME] = runtime
    slot = install_slot(app)
    runtime.install(app, lambda rt: wire(rt, slot))
    return app
