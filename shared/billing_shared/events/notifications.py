"""`billing.notifications.v1`: every notification, then its delivery outcome."""
from __future__ import annotations

from typing import ClassVar, Literal

from .envelope import Data, Event, Instant

Channel = Literal["email", "ticket"]


class EmailMessage(Data):
    to: list[str]
    subject: str
    body_text: str


class TicketRequest(Data):
    queue_id: int | None
    issue_type_id: int | None
    priority: int | None
    title: str
    description: str
    company_id: str | None


class NotificationCreatedData(Data):
    notification_id: str
    type: str
    source_event_id: str
    organization_id: str
    channels: list[Channel]
    email: EmailMessage | None = None
    ticket: TicketRequest | None = None


class DeliveryOutcomeData(Data):
    notification_id: str
    type: str
    channel: Channel
    at: Instant
    attempts: int
    reason: str | None = None
    external_id: str | None = None


class NotificationCreated(Event):
    TYPE: ClassVar[str] = "notification.created"
    event_type: Literal["notification.created"] = "notification.created"
    data: NotificationCreatedData


class NotificationDelivered(Event):
    TYPE: ClassVar[str] = "notification.delivered"
    event_type: Literal["notification.delivered"] = "notification.delivered"
    data: DeliveryOutcomeData


class NotificationFailed(Event):
    TYPE: ClassVar[str] = "notification.failed"
    event_type: Literal["notification.failed"] = "notification.failed"
    data: DeliveryOutcomeData
