"""The accounting simulator's state as a snapshot (see ../persistence.py): the company file (objects,
tombstones, the next ids and DocNumber, the clock) and the OAuth tokens, so that the refresh token
the caller stored after a rotation still works after a restart. Counters, faults and the rate
window are not kept: they describe one run of the process."""

from __future__ import annotations

import time
from typing import Any

from .books import Books, Tombstone
from .state import SimState, entity_rules


def dump(state: SimState) -> dict[str, Any]:
    books, tokens = state.books, state.tokens
    now = time.monotonic()
    return {
        "realm_id": state.config.realm_id,
        "objects": books.objects,
        "tombstones": [(t.entity, t.object_id, t.deleted_at) for t in books.tombstones],
        "next_id": books._next_id,  # noqa: SLF001 - the snapshot is the books' own state
        "next_doc_number": books.next_doc_number,
        "clock": books.clock._last,  # noqa: SLF001
        # token -> seconds it has left (the authority keeps monotonic instants, which a restart resets)
        "refresh_tokens": {t: at - now for t, at in tokens._refresh.items()},  # noqa: SLF001
        "access_tokens": {t: at - now for t, at in tokens._access.items()},  # noqa: SLF001
        "refreshes": tokens.refreshes,
        "elsewhere_payments": state.elsewhere_payments,
    }


def load(state: SimState, stored: dict[str, Any]) -> None:
    if stored.get("realm_id") != state.config.realm_id:
        raise ValueError(f"the snapshot is of realm {stored.get('realm_id')!r}, this simulator serves "
                         f"{state.config.realm_id!r}: use another data folder")
    books = Books(entity_rules(), state.config.first_doc_number)
    books.objects = {name: dict(stored["objects"].get(name, {})) for name in books.objects}
    books.tombstones = [Tombstone(entity, object_id, at) for entity, object_id, at in stored["tombstones"]]
    books._next_id.update(stored["next_id"])  # noqa: SLF001
    books.next_doc_number = stored["next_doc_number"]
    books.clock._last = stored["clock"]  # noqa: SLF001
    state.books = books
    now = time.monotonic()
    state.tokens._refresh = {t: now + left for t, left in stored["refresh_tokens"].items()}  # noqa: SLF001
    state.tokens._access = {t: now + left for t, left in stored["access_tokens"].items()}  # noqa: SLF001
    state.tokens.refreshes = stored["refreshes"]
    state.elsewhere_payments = stored["elsewhere_payments"]
