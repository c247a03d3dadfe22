"""Which portal handler takes which event type."""
from __future__ import annotations

from collections.abc import Sequence

from billing_shared.events.directory import ContactSynced
from billing_shared.kafka.runner import Batched
from billing_shared.outbox import Tx

from billing_portal.adapters import directory_store


async def on_contacts(tx: Tx, events: Sequence[ContactSynced]) -> None:
    await directory_store.upsert(tx.conn, [e.data for e in events])


DIRECTORY_HANDLERS = {"contact.synced": Batched(on_contacts)}
