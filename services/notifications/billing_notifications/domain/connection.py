"""The PSA credentials tickets are created with: stored through the API, or from the environment."""
from __future__ import annotations

from dataclasses import dataclass

from billing_shared.secrets import mask


@dataclass(frozen=True)
class PsaCredentials:
    username: str
    secret: str
    integration_code: str
    base_url: str | None = None  # None: found from the username's zone
    source: str = "stored"  # "stored" (Connect to Ticketing) or "environment" (PSA_*)

    def shown(self) -> dict[str, str | None]:
        return {"username": self.username, "secret": mask(self.secret), "integration_code": self.integration_code,
                "base_url": self.base_url, "source": self.source}
