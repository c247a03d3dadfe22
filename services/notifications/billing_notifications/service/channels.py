"""One delivery attempt per channel: resolve what is needed, send, and say what happened.

Nothing here holds a database transaction while it talks to the outside world.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Protocol

from billing_notifications.adapters.delivery_store import Claimed
from billing_notifications.adapters.smtp_mailer import OutgoingEmail
from billing_notifications.domain import tickets
from billing_notifications.domain.catalog import TYPES
from billing_notifications.domain.delivery_policy import Problem, SendFailed, Sent

Outcome = Sent | Problem


class Mailer(Protocol):
    async def send(self, mail: OutgoingEmail) -> tuple[str, list[str]]: ...


class TicketDesk(Protocol):
    async def find(self, company_id: int, marker: str) -> int | None: ...
    async def create(self, fields: dict) -> int: ...


class Channel(Protocol):
    async def deliver(self, c: Claimed) -> Outcome: ...


class EmailChannel:
    """Client types go to the organization's default contact, as the directory knows it when the
    email is sent (the directory and the payments topic are not ordered); staff types go to
    STAFF_EMAIL."""

    def __init__(self, mailer: Mailer, recipients: Callable[[str], Awaitable[list[str]]],
                 staff_email: str | None) -> None:
        self.mailer = mailer
        self.recipients = recipients
        self.staff_email = staff_email

    async def deliver(self, c: Claimed) -> Outcome:
        if not c.email:
            return Problem("the notification has no email", "permanent")
        audience = TYPES[c.type].audience
        if audience == "staff":
            if not self.staff_email:
                return Problem("no staff address configured (STAFF_EMAIL)", "permanent")
            to = [self.staff_email]
        elif audience == "invitee":  # the person invited, never the organization's default contact
            to = list(c.recipients)
            if not to:
                return Problem("the invitation names no email address", "permanent")
        else:
            known = c.directory_recipients  # read with the claim, right before this attempt
            to = (known if known is not None else await self.recipients(c.organization_id)) or list(c.recipients)
            if not to:
                return Problem(f"no email address known for {c.organization_id}: the directory has no "
                               "active contact with an email yet", "waiting")
        mail = OutgoingEmail(str(c.notification_id), to, c.email["subject"], c.email["body_text"], c.created_at)
        try:
            message_id, accepted = await self.mailer.send(mail)
        except SendFailed as failed:
            return failed.problem
        return Sent(message_id, tuple(accepted))


class TicketChannel:
    """Before creating a ticket for a delivery whose previous attempt's outcome is unknown, look
    for the ticket carrying this notification's marker."""

    def __init__(self, desks: Callable[[], Awaitable[TicketDesk | None]],
                 due_after: timedelta = timedelta(days=1)) -> None:
        self.desks = desks  # the PSA as configured now (Connect to Ticketing, else PSA_*)
        self.due_after = due_after

    async def deliver(self, c: Claimed) -> Outcome:
        desk = await self.desks()
        if desk is None:
            return Problem("PSA credentials are not configured: Connect to Ticketing in the portal, or set "
                           "PSA_USERNAME, PSA_SECRET and PSA_INTEGRATION_CODE", "permanent")
        if not c.ticket:
            return Problem("the notification has no ticket", "permanent")
        t = c.ticket
        company = int(t["company_id"])
        try:
            if c.outcome_unknown:
                found = await desk.find(company, tickets.marker(str(c.notification_id)))
                if found is not None:
                    return Sent(str(found))
            ticket_id = await desk.create(tickets.ticket_fields(
                company=t["company_id"], title=t["title"], description=t["description"], queue_id=t["queue_id"],
                issue_type_id=t["issue_type_id"], priority=t["priority"],
                status=t.get("status", tickets.STATUS_NEW), created_at=c.created_at, due_after=self.due_after,
            ))
        except SendFailed as failed:
            return failed.problem
        return Sent(str(ticket_id))
