"""The portal's settings, from the environment."""
from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode
from typing_extensions import Annotated

from billing_shared.settings import Role, ServiceSettings, json_list

DEMO_PASSWORD = "demo-password"


class SeedUser(BaseModel):
    """One entry of PORTAL_USERS."""

    email: str
    password: SecretStr
    role: Role
    organization_id: str | None = None
    contact_id: str | None = None

    @model_validator(mode="after")
    def _client_is_bound(self) -> "SeedUser":
        if self.role == "client" and not (self.organization_id and self.contact_id):
            raise ValueError("a client user needs an organization_id and a contact_id")
        return self


# The demo sign-ins of CONTRACT.md; a deployment sets PORTAL_USERS (or an empty list) instead.
DEMO_USERS = [
    {"email": "admin@msp.example", "password": DEMO_PASSWORD, "role": "admin"},
    {"email": "manager@msp.example", "password": DEMO_PASSWORD, "role": "manager"},
    {"email": "pat@acme.example", "password": DEMO_PASSWORD, "role": "client",
     "organization_id": "autotask:678", "contact_id": "autotask:901"},
]


class PortalSettings(ServiceSettings):
    http_port: int = 8080
    portal_users: Annotated[list[SeedUser], NoDecode] = Field(default_factory=lambda: [SeedUser(**u) for u in DEMO_USERS])
    sync_url: str = "http://127.0.0.1:8081"
    payments_url: str = "http://127.0.0.1:8082"
    notifications_url: str = "http://127.0.0.1:8083"
    service_timeout_seconds: float = 15.0
    # Cookies are marked Secure when the portal is served over TLS (behind a proxy that terminates it).
    secure_cookies: bool = False
    # Where people reach the portal (the links in invitation emails).
    portal_public_url: str = "http://127.0.0.1:8080"
    invitation_hours: int = 72
    session_idle_minutes: int = 60
    session_max_hours: int = 12
    # Sign-in throttling: failures counted over the window, per account and per address.
    signin_window_minutes: int = 15
    signin_failures_per_account: int = 5
    signin_failures_per_address: int = 20

    @field_validator("portal_users", mode="before")
    @classmethod
    def _parse_users(cls, value: object) -> object:
        return json_list(value)

    @model_validator(mode="after")
    def _needs_identity_key(self) -> "PortalSettings":
        if self.identity_key is None:
            raise ValueError("IDENTITY_KEY is required: the portal signs people's identities to the services with it")
        return self
