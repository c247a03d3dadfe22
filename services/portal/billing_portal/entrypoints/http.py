"""The portal's pages, collected in one place."""
from __future__ import annotations

from aiohttp import web

from . import (
    pages_admin, pages_auth, pages_autopay, pages_client, pages_integrations, pages_invitations, pages_invoices,
    pages_notifications, pages_pay, pages_payments, pages_profiles, pages_reconciliation, pages_settings, pages_staff,
    pages_webhooks,
)

# Order matters where paths overlap: more specific modules first.
PAGES = (pages_auth, pages_invitations, pages_staff, pages_client, pages_admin, pages_integrations, pages_settings,
         pages_pay, pages_payments, pages_invoices, pages_notifications, pages_profiles, pages_reconciliation,
         pages_autopay, pages_webhooks)


def add_pages(app: web.Application) -> None:
    for module in PAGES:
        app.router.add_routes(module.routes)
