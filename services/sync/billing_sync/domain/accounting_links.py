"""Which accounting object an invoice of ours is linked to, and whether an object read now is still
that one. No I/O.

An accounting `Id` names an object within one QuickBooks company (realm) only, and not for ever: a
sandbox reset, or a simulator started afresh, hands out `1`, `2`, ... again. So a link is keyed by
(realm, id), and an object read under a linked id is taken for the linked one only when its
`MetaData.CreateTime` is the one recorded and its marker (the PrivateNote sync writes) names no
other invoice of ours. Otherwise the linked object is gone: the link is retired, never overwritten
with another invoice's number and balance.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

MARKER_PREFIX = "billing-link invoice "


def marker(invoice_id: str) -> str:
    """What sync writes into the PrivateNote of each accounting invoice it creates."""
    return f"{MARKER_PREFIX}{invoice_id}"


def marker_owner(obj: Mapping[str, Any]) -> str | None:
    """The invoice of ours an accounting object was created for, when its note says so."""
    note = str(obj.get("PrivateNote") or "")
    at = note.find(MARKER_PREFIX)
    if at < 0:
        return None
    rest = note[at + len(MARKER_PREFIX):].split()
    return rest[0] if rest else None


def created_at(obj: Mapping[str, Any]) -> datetime | None:
    stamp = (obj.get("MetaData") or {}).get("CreateTime")
    if not stamp:
        return None
    return stamp if isinstance(stamp, datetime) else datetime.fromisoformat(str(stamp))


def same_object(invoice_id: str, linked_created: datetime | None, obj: Mapping[str, Any]) -> bool:
    """Is `obj`, read under the id linked to `invoice_id`, still the object that was linked?
    Unknown create times (links made before they were recorded) do not tell them apart."""
    owner = marker_owner(obj)
    if owner is not None and owner != invoice_id:
        return False
    seen = created_at(obj)
    return linked_created is None or seen is None or seen == linked_created
