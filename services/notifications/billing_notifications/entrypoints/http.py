"""Notifications' HTTP API (CONTRACT.md "Notifications API")."""
from billing_shared.web.routes import ApiRoutes

routes = ApiRoutes()
