"""Integration settings as sync keeps them: what may be shown, and the secrets that never are."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from billing_shared.secrets import mask

AUTOTASK, QUICKBOOKS = "autotask", "quickbooks"
INTUIT_TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
INTUIT_API_HOSTS = ("quickbooks.api.intuit.com", "sandbox-quickbooks.api.intuit.com")
DEFAULT_IMAGE_SOURCES = ("psa", "accounting")
IMAGE_SOURCES = frozenset(DEFAULT_IMAGE_SOURCES)


@dataclass(frozen=True)
class AutotaskSettings:
    username: str
    integration_code: str
    base_url: str | None = None
    quote_url_field: str | None = None
    sync_interval_minutes: int = 60
    currency: str = "USD"
    secret: str = field(default="", repr=False)

    def shown(self) -> dict[str, object]:
        return {"username": self.username, "secret": mask(self.secret), "integration_code": self.integration_code,
                "base_url": self.base_url, "quote_url_field": self.quote_url_field,
                "sync_interval_minutes": self.sync_interval_minutes, "currency": self.currency}


@dataclass(frozen=True)
class QuickBooksSettings:
    realm_id: str
    client_id: str
    base_url: str | None = None
    token_url: str | None = None
    client_secret: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)

    def shown(self) -> dict[str, object]:
        return {"base_url": self.base_url, "realm_id": self.realm_id, "client_id": self.client_id,
                "client_secret": mask(self.client_secret), "refresh_token": mask(self.refresh_token),
                "token_url": self.token_url}


def token_url_for(accounting_base_url: str) -> str:
    """Intuit's OAuth host for the real API; `<base>/oauth2/v1/tokens/bearer` elsewhere (the simulator)."""
    host = urlsplit(accounting_base_url).hostname or ""
    if host in INTUIT_API_HOSTS:
        return INTUIT_TOKEN_URL
    return f"{accounting_base_url.rstrip('/')}/oauth2/v1/tokens/bearer"


def image_sources(value: object) -> tuple[str, ...]:
    """An ordered list of known sources, each once."""
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError("sources must be a non-empty list")
    unknown = [s for s in value if s not in IMAGE_SOURCES]
    if unknown:
        raise ValueError(f"unknown image sources: {unknown}; known: {sorted(IMAGE_SOURCES)}")
    if len(set(value)) != len(value):
        raise ValueError("each source may appear once")
    return tuple(value)
