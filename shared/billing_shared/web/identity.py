"""A person's identity, carried from the portal to a service in a short-lived signed token.

The portal signs who the signed-in person is (role, organization, contact, client permissions) with
`IDENTITY_KEY`, for a few minutes; every service verifies it beside the machine tokens of
`API_TOKENS`, so the services' own role and organization rules bind the person, never the portal.
HS256 with one shared key: the portal and the services are one deployment, and a key per service
pair would buy nothing while the portal may call all of them.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import jwt

AUDIENCE = "billing-link-services"
ISSUER = "billing-link-portal"
ALGORITHM = "HS256"
DEFAULT_LIFETIME_SECONDS = 300
MIN_KEY_BYTES = 32  # HS256 wants a key at least as long as its hash


class InvalidIdentity(Exception):
    """The token is not one the portal signed, or its time is over."""


@dataclass(frozen=True)
class Identity:
    subject: str  # the portal's user id, for the services' logs
    role: str
    organization_id: str | None = None
    contact_id: str | None = None
    permissions: frozenset[str] | None = None  # a client's profile; None for staff


def check_key(key: str) -> str:
    if len(key.encode()) < MIN_KEY_BYTES:
        raise ValueError(f"IDENTITY_KEY must be at least {MIN_KEY_BYTES} bytes")
    return key


def sign(identity: Identity, key: str, *, lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
         now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims: dict[str, object] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": identity.subject, "iat": issued, "exp": issued + lifetime_seconds,
        "role": identity.role, "org": identity.organization_id, "contact": identity.contact_id,
    }
    if identity.permissions is not None:
        claims["perms"] = sorted(identity.permissions)
    return jwt.encode(claims, check_key(key), algorithm=ALGORITHM)


def verify(token: str, key: str) -> Identity:
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM], audience=AUDIENCE, issuer=ISSUER,
                            options={"require": ["exp", "iat", "sub", "aud", "iss"]})
    except jwt.PyJWTError as exc:
        raise InvalidIdentity(str(exc)) from None
    role = claims.get("role")
    if role not in ("admin", "manager", "client"):
        raise InvalidIdentity("unknown role")
    organization_id = _optional_text(claims.get("org"))
    if role == "client" and not organization_id:
        raise InvalidIdentity("a client identity names its organization")
    perms = claims.get("perms")
    return Identity(subject=str(claims["sub"]), role=role, organization_id=organization_id,
                    contact_id=_optional_text(claims.get("contact")),
                    permissions=frozenset(_texts(perms)) if perms is not None else None)


def looks_like_identity(token: str) -> bool:
    return token.count(".") == 2


def _optional_text(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidIdentity("malformed claim")
    return value


def _texts(values: object) -> Iterable[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidIdentity("malformed permissions")
    return values
