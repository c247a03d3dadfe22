"""Sync's HTTP API (CONTRACT.md "Sync API")."""
from billing_shared.web.routes import ApiRoutes

from . import http_directory, http_integrations, http_runs, http_settings

routes = ApiRoutes()
routes.include(http_integrations.routes)
routes.include(http_runs.routes)
routes.include(http_directory.routes)
routes.include(http_settings.routes)
