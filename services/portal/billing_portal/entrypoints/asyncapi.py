"""What the portal sends and receives on Kafka, for its AsyncAPI document (GET /asyncapi.json).

The consumer group names the handler map bootstrap.py wires it with; the published class is the one the
portal's `tx.publish(...)` writes (a test compares both with the code).
"""
from billing_shared.events import portal
from billing_shared.events.asyncapi import Consumer, EventSurface
from billing_shared.events.catalog import BILLING_DIRECTORY, BILLING_PORTAL

from billing_portal.entrypoints.consumers import DIRECTORY_HANDLERS

SURFACE = EventSurface(
    service="portal",
    description="The portal publishes the invitations it sends to client contacts; it takes the contact "
                "directory to know whom it may invite.",
    publishes={BILLING_PORTAL: (portal.InvitationSent,)},
    consumes=(Consumer.of("portal-directory", BILLING_DIRECTORY, DIRECTORY_HANDLERS),),
)
