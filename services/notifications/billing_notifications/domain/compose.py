"""A notification as it is recorded and published: the rendered text on the enabled channels (no I/O)."""
from __future__ import annotations

from billing_shared.events.notifications import EmailMessage, NotificationCreatedData, TicketRequest

from . import tickets
from .catalog import ChannelSwitch
from .messages import Rendered
from .tickets import TicketingSettings
from .triggers import Trigger


def compose(trigger: Trigger, *, notification_id: str, switch: ChannelSwitch, text: Rendered,
            recipients: list[str], ticketing: TicketingSettings) -> NotificationCreatedData:
    """`recipients` are those known now (possibly none yet: the worker asks again when it sends).
    The ticket's title and description end with the marker that finds the ticket again."""
    email = EmailMessage(to=recipients, subject=text.subject, body_text=text.body) if switch.email else None
    ticket = TicketRequest(
        queue_id=ticketing.queue_id, issue_type_id=ticketing.issue_type_id, priority=ticketing.priority,
        title=tickets.title_with_marker(text.title, notification_id),
        description=tickets.description_with_marker(text.description, notification_id),
        company_id=tickets.company_id(trigger.organization_id, ticketing.internal_company_id),
    ) if switch.ticket else None
    return NotificationCreatedData(
        notification_id=notification_id, type=trigger.type, source_event_id=trigger.source_event_id,
        organization_id=trigger.organization_id, channels=switch.channels(), email=email, ticket=ticket,
    )
