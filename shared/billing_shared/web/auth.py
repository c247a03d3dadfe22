"""Who is calling: a machine token from config (`API_TOKENS`), or a person's identity signed by the portal
(web/identity.py), each mapped to a role (and, for clients, one organization and contact)."""
from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from billing_shared.settings import ApiToken, Role

from .errors import ApiError, forbidden, not_found
from .identity import InvalidIdentity, looks_like_identity, verify


@dataclass(frozen=True)
class Principal:
    role: Role
    organization_id: str | None = None
    contact_id: str | None = None
    # A client person's profile permissions ("make_payments", ...); None when not limited (staff, machines).
    permissions: frozenset[str] | None = None

    def may(self, permission: str) -> bool:
        return self.permissions is None or permission in self.permissions

    def can_see(self, organization_id: str | None) -> bool:
        return self.role != "client" or (organization_id is not None and organization_id == self.organization_id)

    def check_organization(self, organization_id: str | None, what: str = "object") -> None:
        """A client asking for another organization's object gets 404: never leak that it exists."""
        if not self.can_see(organization_id):
            raise not_found(what)


PRINCIPAL = web.RequestKey("principal", Principal)
TOKENS = web.AppKey("api_tokens", list)
IDENTITY_KEY = web.AppKey("identity_key", str)  # empty: the service accepts no portal identities
# Webhooks other systems post to us carry their own signature, not a bearer token. Named one by one: the
# admin API of outbound webhooks (/v1/webhooks/subscriptions...) is under the same prefix and needs a token.
INBOUND_WEBHOOKS = ("/v1/webhooks/gateway",)
PUBLIC_PATHS = ("/health", "/metrics", "/openapi.json", "/asyncapi.json")


def _find(tokens: list[ApiToken], presented: str) -> ApiToken | None:
    found = None
    for entry in tokens:  # compare against every entry, in constant time each
        if hmac.compare_digest(entry.token.get_secret_value().encode(), presented.encode()):
            found = entry
    return found


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS or request.path in INBOUND_WEBHOOKS:
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    presented = presented.strip() if scheme.lower() == "bearer" else ""
    who = _authenticate(request.app, presented) if presented else None
    if who is None:
        raise ApiError(401, "unauthorized", "a valid bearer token is required")
    request[PRINCIPAL] = who
    return await handler(request)


def _authenticate(app: web.Application, presented: str) -> Principal | None:
    entry = _find(app[TOKENS], presented)
    if entry is not None:
        return Principal(entry.role, entry.organization_id, entry.contact_id)
    key = app.get(IDENTITY_KEY, "")
    if not key or not looks_like_identity(presented):
        return None
    try:
        person = verify(presented, key)
    except InvalidIdentity:
        return None
    return Principal(person.role, person.organization_id, person.contact_id, person.permissions)  # type: ignore[arg-type]


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


# admin may do whatever a manager may; a client only what names it.
_IMPLIED: dict[str, set[str]] = {"admin": {"admin", "manager"}, "manager": {"manager"}, "client": {"client"}}


def require_permission(request: web.Request, permission: str, what: str = "object") -> Principal:
    """A client person whose profile does not allow `permission` ("make_payments", "view_quotes", ...)
    is refused: 403, the object itself being theirs."""
    who = principal(request)
    if not who.may(permission):
        raise forbidden(f"your client profile does not allow this ({permission.replace('_', ' ')})")
    return who


def require(request: web.Request, *roles: Role) -> Principal:
    who = principal(request)
    if not (_IMPLIED[who.role] & set(roles)):
        raise forbidden()
    return who
