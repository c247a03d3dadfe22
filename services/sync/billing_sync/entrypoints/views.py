"""Request and response shapes of the sync API (input models forbid unknown fields)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from billing_shared.money import Currency, Money
from billing_shared.web.fields import Line


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AutotaskIn(_In):
    username: Line = Field(min_length=1, max_length=200)
    secret: Line | None = Field(default=None, min_length=1, max_length=1000,
                                description="write-only; omit to keep the stored one")
    integration_code: Line = Field(min_length=1, max_length=100)
    base_url: Line | None = Field(default=None, pattern=r"^https?://", max_length=2000)
    quote_url_field: Line | None = Field(default=None, max_length=200)
    sync_interval_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    currency: Currency = "USD"


class AutotaskView(BaseModel):
    username: str
    secret: str | None
    integration_code: str
    base_url: str | None
    quote_url_field: str | None
    sync_interval_minutes: int
    currency: str


class QuickBooksIn(_In):
    base_url: Line | None = Field(default=None, pattern=r"^https?://", max_length=2000)
    realm_id: Line = Field(min_length=1, max_length=200)
    client_id: Line = Field(min_length=1, max_length=1000)
    client_secret: Line | None = Field(default=None, min_length=1, max_length=1000, description="write-only")
    refresh_token: Line | None = Field(default=None, min_length=1, max_length=4000, description="write-only")
    token_url: Line | None = Field(default=None, pattern=r"^https?://", max_length=2000)


class QuickBooksView(BaseModel):
    base_url: str | None
    realm_id: str
    client_id: str
    client_secret: str | None
    refresh_token: str | None
    token_url: str | None


class TestResult(BaseModel):
    ok: bool
    reason: str | None = None


class RunIn(_In):
    mode: Literal["full", "incremental"] | None = None


class RunStarted(BaseModel):
    run_id: str
    started: bool
    # The run answered was already going and the integration settings changed during it: another run
    # starts as soon as it ends.
    follow_up_requested: bool = False


class EntityProgress(BaseModel):
    fetched: int
    total: int | None
    done: bool


class RunView(BaseModel):
    run_id: str
    integration: str
    mode: str
    status: str
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    reason: str | None
    entities: dict[str, EntityProgress]
    # Settings changed while it was going (and it did not take the change in): a follow-up run
    # (trigger `follow_up`) starts as soon as it ends.
    follow_up_requested: bool = False


class RunPage(BaseModel):
    items: list[RunView]
    next_cursor: str | None


class ContactView(BaseModel):
    contact_id: str
    organization_id: str
    name: str
    email: str | None
    active: bool
    primary: bool
    billing: bool


class ContactPage(BaseModel):
    items: list[ContactView]
    next_cursor: str | None


class QuoteView(BaseModel):
    opportunity_id: str
    organization_id: str
    title: str
    status: Literal["open"]
    amount: Money | None
    quote_url: str | None


class QuotePage(BaseModel):
    items: list[QuoteView]
    next_cursor: str | None


class ImageSourcesIn(_In):
    sources: list[Literal["psa", "accounting"]]

    @field_validator("sources")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if not value or len(set(value)) != len(value):
            raise ValueError("a non-empty list of distinct sources")
        return value


class ClientAccessIn(_In):
    quotes: bool


class WritebackView(BaseModel):
    payment_id: str
    organization_id: str
    status: str
    pending: bool
    accounting_payment_id: str | None
    accounting_voided: bool
    attempts: int
    next_attempt_at: datetime
    last_error: str | None


class WritebackPage(BaseModel):
    items: list[WritebackView]
    next_cursor: str | None


def parse(model: type[_In], body: Any) -> Any:
    """Validate a request body; pydantic's ValidationError becomes a 422 `invalid_request`."""
    return model.model_validate(body if body is not None else {})
