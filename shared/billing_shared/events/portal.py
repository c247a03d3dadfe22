"""`billing.portal.v1`: what the portal tells the other services (an invitation to a client contact)."""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from .envelope import Data, Event, Ident, Instant


class InvitationData(Data):
    invitation_id: Ident
    organization_id: Ident
    contact_id: Ident
    email: str = Field(max_length=320)  # RFC 5321's longest address
    name: str = Field(max_length=500)
    link: str = Field(max_length=2000)  # single use; expires at `expires_at`
    expires_at: Instant
    invited_by: str = Field(max_length=320)


class InvitationSent(Event):
    TYPE: ClassVar[str] = "invitation.sent"
    event_type: Literal["invitation.sent"] = "invitation.sent"
    data: InvitationData
