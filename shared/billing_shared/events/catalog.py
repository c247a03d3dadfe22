"""Which event types travel on which topic, and how to parse a message of a topic."""
from __future__ import annotations

import json
from functools import cache
from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from billing_shared.text import holds_nul

from . import autopay, directory, invoices, notifications, payments, portal, reconciliation, sync, upstream
from .envelope import Event

UPSTREAM_INVOICES = "upstream.invoices.v1"
BILLING_INVOICES = "billing.invoices.v1"
BILLING_PAYMENTS = "billing.payments.v1"
BILLING_DIRECTORY = "billing.directory.v1"
BILLING_SYNC = "billing.sync.v1"
BILLING_NOTIFICATIONS = "billing.notifications.v1"
BILLING_PORTAL = "billing.portal.v1"

EVENTS_BY_TOPIC: dict[str, tuple[type[Event], ...]] = {
    UPSTREAM_INVOICES: (upstream.InvoiceUpserted, upstream.UpstreamInvoiceVoided),
    BILLING_INVOICES: (invoices.InvoiceSynced, invoices.InvoiceVoided),
    BILLING_PAYMENTS: (
        payments.PaymentSucceeded,
        payments.PaymentFailed,
        payments.PaymentUnapplied,
        payments.PaymentApplied,
        payments.PaymentRefunded,
        payments.PaymentCancelled,
        payments.PaymentSettlementFailed,
        payments.PaymentChargedBack,
        payments.PaymentRefundFailed,
        payments.InvoiceOverApplied,
        payments.PaymentMethodAdded,
        reconciliation.ReconciliationRequested,
        reconciliation.ReconciliationCompleted,
        reconciliation.WritebackResendRequested,
        autopay.AutopayBalanceCheckRequested,
        autopay.AutopayUpcoming,
        autopay.AutopaySucceeded,
        autopay.AutopayFailed,
    ),
    BILLING_DIRECTORY: (directory.OrganizationSynced, directory.ContactSynced),
    BILLING_SYNC: (
        sync.SyncStarted,
        sync.SyncProgress,
        sync.SyncCompleted,
        sync.SyncFailed,
        sync.SyncRecordFailed,
        sync.SyncStalled,
        sync.IntegrationConnectionFailed,
        reconciliation.BooksChecked,
        autopay.AutopayBalanceChecked,
    ),
    BILLING_NOTIFICATIONS: (
        notifications.NotificationCreated,
        notifications.NotificationDelivered,
        notifications.NotificationFailed,
    ),
    BILLING_PORTAL: (portal.InvitationSent,),
}

TOPICS: tuple[str, ...] = tuple(EVENTS_BY_TOPIC)


@cache
def event_adapter(topic: str) -> TypeAdapter[Event]:
    """A parser for the messages of one topic, discriminated on `event_type`."""
    types = EVENTS_BY_TOPIC[topic]
    union = Annotated[Union[types], Field(discriminator="event_type")]  # noqa: UP007
    return TypeAdapter(union)


def parse_event(topic: str, raw: bytes) -> Event:
    """Parse and validate one message value; raises pydantic.ValidationError or ValueError."""
    event = event_adapter(topic).validate_json(raw)
    # NUL comes only escaped in JSON: a cheap look first, the exact one only when it may be there.
    if b"\\u0000" in raw and holds_nul(json.loads(raw)):
        raise ValueError("text holds the NUL character (\\u0000), which cannot be stored")
    return event
