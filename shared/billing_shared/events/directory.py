"""`billing.directory.v1`: organizations and contacts as sync mirrors them."""
from __future__ import annotations

from typing import ClassVar, Literal

from .envelope import Data, Event


class OrganizationData(Data):
    organization_id: str
    name: str
    active: bool = True
    default_contact_id: str | None = None


class ContactData(Data):
    contact_id: str
    organization_id: str
    name: str
    email: str | None = None
    active: bool = True
    primary: bool = False
    billing: bool = False


class OrganizationSynced(Event):
    TYPE: ClassVar[str] = "organization.synced"
    event_type: Literal["organization.synced"] = "organization.synced"
    data: OrganizationData


class ContactSynced(Event):
    TYPE: ClassVar[str] = "contact.synced"
    event_type: Literal["contact.synced"] = "contact.synced"
    data: ContactData
