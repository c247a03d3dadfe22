"""Bearer tokens from config mapped to a role (and, for clients, one organization and contact)."""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from billing_shared.settings import ApiToken, Role

from .errors import ApiError, forbidden, not_found


@dataclass(frozen=True)
class Principal:
    role: Role
    organization_id: str | None = None
    contact_id: str | None = None

    def can_see(self, organization_id: str | None) -> bool:
        return self.role != "client" or (organization_id is not None and organization_id == self.organization_id)

    def check_organization(self, organization_id: str | None, what: str = "object") -> None:
        """A client asking for another organization's object gets 404: never leak that it exists."""
        if not self.can_see(organization_id):
            raise not_found(what)


PRINCIPAL = web.RequestKey("principal", Principal)
TOKENS = web.AppKey("api_tokens", list)
PUBLIC_PATHS = ("/health", "/metrics", "/openapi.json")


def _find(tokens: list[ApiToken], presented: str) -> ApiToken | None:
    found = None
    for entry in tokens:  # compare against every entry, in constant time each
        if hmac.compare_digest(entry.token.get_secret_value().encode(), presented.encode()):
            found = entry
    return found


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or request.path.startswith("/v1/webhooks/"):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    entry = _find(request.app[TOKENS], presented.strip()) if scheme.lower() == "bearer" and presented else None
    if entry is None:
        raise ApiError(401, "unauthorized", "a valid bearer token is required")
    request[PRINCIPAL] = Principal(entry.role, entry.organization_id, entry.contact_id)
    return await handler(request)


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


# admin may do whatever a manager may; a client only what names it.
_IMPLIED: dict[str, set[str]] = {"admin": {"admin", "manager"}, "manager": {"manager"}, "client": {"client"}}


def require(request: web.Request, *roles: Role) -> Principal:
    who = principal(request)
    if not (_IMPLIED[who.role] & set(roles)):
        raise forbidden()
    return who
