"""The sort keys a list cursor of this service holds; a cursor it did not hand out answers 422
`invalid_request` (never a 500 from a failed parse or a database type error)."""
from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from billing_shared.web.errors import invalid_request
from billing_shared.web.paging import PageRequest


def _refused(after: Any) -> Exception:
    return invalid_request("cursor is not one this API returned", {"cursor": after})


def text_after(page: PageRequest) -> str:
    """A list ordered by one text key: the key of the last item returned ("" on the first page)."""
    if page.after is None:
        return ""
    if len(page.after) != 1 or not isinstance(page.after[0], str):
        raise _refused(page.after)
    return page.after[0]


def time_and_id_before(page: PageRequest) -> tuple[datetime, uuid.UUID] | None:
    """A list ordered by (timestamp, uuid), newest first: the key of the last item returned."""
    if page.after is None:
        return None
    try:
        stamp, key = page.after
        before = datetime.fromisoformat(stamp), uuid.UUID(key)
    except (TypeError, ValueError, AttributeError):  # wrong shape, not a timestamp, not a uuid
        raise _refused(page.after) from None
    if before[0].tzinfo is None:
        raise _refused(page.after)
    return before
