"""Notifications' HTTP API (CONTRACT.md "Notifications API")."""
from billing_shared.web.routes import ApiRoutes

from . import http_deliveries, http_settings, http_ticketing, http_webhooks

routes = ApiRoutes()
routes.include(http_settings.routes)
routes.include(http_deliveries.routes)
routes.include(http_ticketing.routes)
routes.include(http_webhooks.routes)
