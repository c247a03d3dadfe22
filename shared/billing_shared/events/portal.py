"""`billing.portal.v1`: what the portal tells the other services (an invitation to a client contact)."""
from __future__ import annotations

from typing import ClassVar, Literal

from .envelope import Data, Event, Instant


class InvitationData(Data):
    invitation_id: str
    organization_id: str
    contact_id: str
    email: str
    name: str
    link: str  # single use; expires at `expires_at`
    expires_at: Instant
    invited_by: str


class InvitationSent(Event):
    TYPE: ClassVar[str] = "invitation.sent"
    event_type: Literal["invitation.sent"] = "invitation.sent"
    data: InvitationData
