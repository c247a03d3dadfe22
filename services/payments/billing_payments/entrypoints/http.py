"""Payments' HTTP API (CONTRACT.md "Payments API")."""
from billing_shared.web.routes import ApiRoutes

from . import http_autopay, http_invoices, http_payments, http_reconciliation, http_settings, http_wallet, http_webhooks

routes = ApiRoutes()
routes.include(http_autopay.routes)
routes.include(http_invoices.routes)
routes.include(http_payments.routes)
routes.include(http_reconciliation.routes)
routes.include(http_settings.routes)
routes.include(http_wallet.routes)
routes.include(http_webhooks.routes)
