"""Which field tells that a row changed, per entity, for incremental sync
(external-apis.md 1.7). Every entity spells it differently [C].

Contacts: `lastModifiedDate`, not AT-DJ's `lastActivityDate`. The mirror keeps
the contact record itself (name, e-mail, active, primary, billing), and
lastModifiedDate is the stamp of edits to that record; lastActivityDate also
moves with activity about the contact (notes, to-dos, tickets), which would
re-read rows whose mirrored fields did not change. Both are in ContactModel
[C]; if a tenant ever shows lastModifiedDate lagging edits, switch here.

Invoices have no last-modified field at all [C]: sync them by an id watermark
(new invoices) and re-read open ones (paidDate, isVoided, invoiceNumber).
"""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType
from typing import Mapping

from .query import F, Filter

CHANGE_FIELDS: Mapping[str, str | None] = MappingProxyType({
    "Companies": "lastActivityDate",
    "Contacts": "lastModifiedDate",
    "Tickets": "lastActivityDate",
    "Opportunities": "lastActivity",
    "Contracts": "lastModifiedDateTime",
    "Invoices": None,
})


def changed_since(entity: str, since: datetime) -> Filter:
    """`<change field> gt since`; the caller subtracts its overlap window first."""
    field = CHANGE_FIELDS.get(entity)
    if field is None:
        raise ValueError(f"{entity} has no change field; sync it by id watermark")
    return F.gt(field, since)
