"""Request and response models of the outbound webhooks API (admin)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool

from billing_shared.web.fields import Line

from billing_notifications.domain.webhooks import URL_MAX

EventTypes = list[Line]


class SubscriptionIn(BaseModel):
    """Subscribe a URL to some billing.* event types (`GET /asyncapi.json` describes them)."""

    model_config = ConfigDict(extra="forbid")
    url: Line = Field(min_length=1, max_length=URL_MAX, description="http or https")
    event_types: EventTypes = Field(min_length=1, max_length=200)


class SubscriptionChange(BaseModel):
    """Fields not given keep theirs; `enabled: true` sends what waits, due now with a fresh retry window."""

    model_config = ConfigDict(extra="forbid")
    url: Line | None = Field(default=None, min_length=1, max_length=URL_MAX)
    event_types: EventTypes | None = Field(default=None, min_length=1, max_length=200)
    enabled: StrictBool | None = None


class SubscriptionView(BaseModel):
    subscription_id: str
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    pending_messages: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Any) -> "SubscriptionView":
        return cls(subscription_id=str(row["subscription_id"]), url=row["url"], event_types=list(row["event_types"]),
                   enabled=row["enabled"], disabled_reason=row["disabled_reason"], pending_messages=row["pending"],
                   created_at=row["created_at"], updated_at=row["updated_at"])


class SubscriptionWithSecret(SubscriptionView):
    """The secret (`whsec_...`) is shown in this answer only: store it with the receiver."""

    secret: str


class SubscriptionList(BaseModel):
    items: list[SubscriptionView]


class AttemptView(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class MessageView(BaseModel):
    message_id: str = Field(description="also the webhook-id header, the same on every attempt and replay")
    organization_id: str
    event_id: str
    event_type: str
    occurred_at: datetime
    status: Literal["pending", "delivered"]
    failures_in_a_row: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    attempts: list[AttemptView]

    @classmethod
    def of(cls, row: dict[str, Any]) -> "MessageView":
        return cls(message_id=str(row["message_id"]), organization_id=row["organization_id"],
                   event_id=str(row["event_id"]), event_type=row["event_type"], occurred_at=row["occurred_at"],
                   status=row["status"], failures_in_a_row=row["attempts"],
                   next_attempt_at=row["next_attempt_at"] if row["status"] == "pending" else None,
                   last_error=row["last_error"], created_at=row["created_at"], delivered_at=row["delivered_at"],
                   attempts=[AttemptView.model_validate(a) for a in row["log"]])


class MessagePage(BaseModel):
    items: list[MessageView]
    next_cursor: str | None


class ReplayRange(BaseModel):
    """The messages enqueued from `from` (included) to `to` (excluded) are sent again, in order."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: AwareDatetime = Field(alias="from")
    to: AwareDatetime


class Replayed(BaseModel):
    replayed: int
