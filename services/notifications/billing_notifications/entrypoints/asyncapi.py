"""What notifications sends and receives on Kafka, for its AsyncAPI document (GET /asyncapi.json).

The consumer groups are the very specs bootstrap.py wires (`consumers(...)`); the published classes are
the ones notifications' `tx.publish(...)` calls and its sync-freshness view write (a test compares them
with the code).
"""
from billing_shared.events import notifications, sync
from billing_shared.events.asyncapi import Consumer, EventSurface
from billing_shared.events.catalog import BILLING_NOTIFICATIONS, BILLING_SYNC

from billing_notifications.entrypoints.consumers import consumers
from billing_notifications.service.intake import Intake

SURFACE = EventSurface(
    service="notifications",
    description="Notifications turns billing events into emails and PSA tickets and publishes what became of "
                "each notification; its sync-freshness view reports an organization whose sync has stalled.",
    publishes={
        BILLING_NOTIFICATIONS: (notifications.NotificationCreated, notifications.NotificationDelivered,
                                notifications.NotificationFailed),
        BILLING_SYNC: (sync.SyncStalled,),
    },
    consumes=tuple(Consumer.of(spec.name, topic, spec.handlers)
                   for spec in consumers(Intake()) for topic in spec.topics),
)
