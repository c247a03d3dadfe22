"""Who signs in to the portal, and where each kind of person starts."""
from __future__ import annotations

from dataclasses import dataclass

from billing_shared.web.identity import Identity

HOME = {"admin": "/integrations", "manager": "/organizations", "client": "/portal/invoices"}
# What each role may open; admin may do whatever a manager may (as in the services).
_IMPLIED = {"admin": {"admin", "manager"}, "manager": {"manager"}, "client": {"client"}}


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    role: str
    organization_id: str | None
    contact_id: str | None
    active: bool
    password_hash: str | None

    @property
    def home(self) -> str:
        return HOME[self.role]

    def is_one_of(self, *roles: str) -> bool:
        return bool(_IMPLIED[self.role] & set(roles))

    def identity(self) -> Identity:
        """What the services are told about this person."""
        return Identity(subject=self.user_id, role=self.role, organization_id=self.organization_id,
                        contact_id=self.contact_id)
