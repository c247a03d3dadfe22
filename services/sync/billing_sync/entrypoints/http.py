"""Sync's HTTP API (CONTRACT.md "Sync API"): every route table of the service, in one."""
from __future__ import annotations

from billing_shared.web.routes import ApiRoutes

from billing_sync.entrypoints import http_directory, http_integrations, http_runs, http_settings


def all_routes() -> ApiRoutes:
    routes = ApiRoutes()
    for module in (http_integrations, http_runs, http_directory, http_settings):
        routes.include(module.routes)
    return routes


routes = all_routes()
