"""`billing.directory.v1`: organizations and contacts as sync mirrors them."""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .envelope import Data, Event, Ident

# Stores index these (a contact's email, an organization's name): lengths a btree row can hold, well
# above what Autotask keeps (company names 100 characters, contact names 50 + 50, email addresses 254).
Name = Field(max_length=500)


class OrganizationData(Data):
    organization_id: Ident
    name: str = Name
    active: bool = True
    default_contact_id: Ident | None = None


class ContactData(Data):
    contact_id: Ident
    organization_id: Ident
    name: str = Name
    email: Annotated[str, Field(max_length=320)] | None = None  # the bound on the text, not on None
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
