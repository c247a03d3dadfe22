"""Configuration every service shares, from the environment (pydantic-settings)."""
from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from typing_extensions import Annotated

Role = Literal["admin", "manager", "client"]


class ApiToken(BaseModel):
    token: SecretStr
    role: Role
    organization_id: str | None = None
    contact_id: str | None = None

    @model_validator(mode="after")
    def _client_is_bound(self) -> "ApiToken":
        if self.role == "client" and not self.organization_id:
            raise ValueError("a client token needs an organization_id")
        return self


class ServiceSettings(BaseSettings):
    """Read from the environment: DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, API_TOKENS, ..."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    database_url: str = "postgresql://postgres@127.0.0.1:54320/billing"
    kafka_bootstrap_servers: str = "localhost:9092"
    # Lets several copies of the system share one broker (tests do); empty in production.
    kafka_topic_prefix: str = ""
    kafka_topic_partitions: int = 3
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    api_tokens: Annotated[list[ApiToken], NoDecode] = Field(default_factory=list)
    # Fernet key (urlsafe base64 of 32 bytes) for secrets at rest; required where secrets are stored.
    secrets_key: SecretStr | None = None
    # Verifies people's identities signed by the portal (web/identity.py); unset: machine tokens only.
    identity_key: SecretStr | None = None
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    outbox_poll_seconds: float = 0.25
    db_pool_size: int = 10

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _parse_tokens(cls, value: object) -> object:
        return json_list(value)


def json_list(value: object) -> object:
    """A list setting given in the environment as JSON text (an empty text is an empty list)."""
    if isinstance(value, str):
        return json.loads(value) if value.strip() else []
    return value
