"""The HTTP API's request and response models (CONTRACT.md "Notifications API")."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictBool, StrictInt

from billing_shared.web.fields import Line, NonNegativeInt32, PositiveId

from billing_notifications.domain.catalog import ChannelSwitch
from billing_notifications.domain.tickets import TicketingSettings


class Switch(BaseModel):
    email: bool
    ticket: bool


class SwitchChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: StrictBool | None = None
    ticket: StrictBool | None = None


class NotificationSettings(RootModel[dict[str, Switch]]):
    """A map from notification type to its channels."""

    @classmethod
    def of(cls, switches: dict[str, ChannelSwitch]) -> "NotificationSettings":
        return cls({name: Switch(email=s.email, ticket=s.ticket) for name, s in switches.items()})


class NotificationSettingsChange(RootModel[dict[str, SwitchChange]]):
    """Types not named keep their setting; so do channels not named."""


class Ticketing(BaseModel):
    """Where tickets go in the PSA. `status` and `internal_company_id` go beyond the contract: the
    status of new tickets (1 = New) and the company of tickets about no client organization
    (sync and integration problems; 0 is Autotask's own company)."""

    model_config = ConfigDict(extra="forbid")
    queue_id: PositiveId | None = None
    issue_type_id: PositiveId | None = None
    priority: PositiveId = 2
    status: PositiveId = 1
    internal_company_id: NonNegativeInt32 = 0

    @classmethod
    def of(cls, settings: TicketingSettings) -> "Ticketing":
        # Shown as stored: the input ranges apply to what is put, not to what an older version kept.
        return cls.model_construct(**asdict(settings))


class ReminderSchedule(BaseModel):
    """Past-due reminders: days after the due date (whole days, 1 to 365, at most 10); empty: none."""

    model_config = ConfigDict(extra="forbid")
    days_after_due: list[StrictInt] = Field(max_length=10)


class DeliveryView(BaseModel):
    delivery_id: str
    notification_id: str
    source_event_id: str
    type: str
    channel: Literal["email", "ticket"]
    organization_id: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    recipients: list[str]
    external_id: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    next_attempt_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row) -> "DeliveryView":
        return cls(
            delivery_id=str(row["delivery_id"]), notification_id=str(row["notification_id"]),
            source_event_id=str(row["source_event_id"]), type=row["type"], channel=row["channel"],
            organization_id=row["organization_id"], status=row["status"], attempts=row["attempts"],
            recipients=list(row["recipients"]), external_id=row["external_id"], last_error=row["last_error"],
            created_at=row["created_at"], updated_at=row["updated_at"],
            next_attempt_at=row["next_attempt_at"] if row["status"] == "pending" else None,
            finished_at=row["finished_at"],
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryView]
    next_cursor: str | None


class TicketingConnectionIn(BaseModel):
    """Connect to Ticketing: the Autotask API user tickets are created as (secret write-only)."""

    model_config = ConfigDict(extra="forbid")
    username: Line = Field(min_length=1, max_length=200)
    secret: Line | None = Field(default=None, min_length=1, max_length=1000,
                                description="write-only; omit to keep the stored one")
    integration_code: Line = Field(min_length=1, max_length=100)
    base_url: Line | None = Field(default=None, pattern=r"^https?://", max_length=2000)


class TicketingConnectionView(BaseModel):
    username: str
    secret: str | None  # masked
    integration_code: str
    base_url: str | None
    source: Literal["stored", "environment"]


class Choice(BaseModel):
    value: int | str
    label: str
    is_default: bool = False


class TicketingChoices(BaseModel):
    """The tenant's own picklists for tickets, read from the PSA."""

    queues: list[Choice]
    issue_types: list[Choice]
    priorities: list[Choice]


class ConnectionTest(BaseModel):
    ok: bool
    reason: str | None = None
