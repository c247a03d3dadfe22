"""Who signs in to the portal, and where each kind of person starts."""
from __future__ import annotations

from dataclasses import dataclass

from billing_shared.web.identity import Identity

HOME = {"admin": "/integrations", "manager": "/organizations", "client": "/portal/invoices"}
# What each role may open; admin may do whatever a manager may (as in the services).
_IMPLIED = {"admin": {"admin", "manager"}, "manager": {"manager"}, "client": {"client"}}
# A client profile's permissions, as the services are told them (the vendor's words in PERMISSION_LABELS).
PERMISSIONS = ("view_invoices", "make_payments", "view_quotes", "autopay")
PERMISSION_LABELS = {"view_invoices": "View Invoices", "make_payments": "Make Payments", "view_quotes": "View Quotes",
                     "autopay": "Manage automatic payments"}
DEFAULT_PROFILE_ID = "00000000-0000-0000-0000-000000000001"


@dataclass(frozen=True)
class User:
    user_id: str
    email: str
    role: str
    organization_id: str | None
    contact_id: str | None
    active: bool
    password_hash: str | None
    permissions: frozenset[str] | None = None  # a client's profile; None for staff

    @property
    def home(self) -> str:
        if self.role == "client" and not self.may("view_invoices"):  # payments: every client may open it
            return "/portal/quotes" if self.may("view_quotes") and not self.may("make_payments") else "/portal/payments"
        return HOME[self.role]

    def is_one_of(self, *roles: str) -> bool:
        return bool(_IMPLIED[self.role] & set(roles))

    def may(self, permission: str) -> bool:
        return self.permissions is None or permission in self.permissions

    def identity(self) -> Identity:
        """What the services are told about this person, permissions included."""
        return Identity(subject=self.user_id, role=self.role, organization_id=self.organization_id,
                        contact_id=self.contact_id, permissions=self.permissions)


@dataclass(frozen=True)
class ClientProfile:
    profile_id: str
    name: str
    view_invoices: bool
    make_payments: bool
    view_quotes: bool
    autopay: bool = False
