"""The transactional outbox: a unit of work writes its state and its events in one transaction.

Events are buffered while the unit of work runs and written at its end, so the outbox ids of two
transactions that touch the same rows follow their lock order, and therefore their commit order.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import asyncpg

from billing_shared.events import Event
from billing_shared.kafka.topics import TopicNames


@dataclass
class Tx:
    """One database transaction, and the events to publish if it commits."""

    conn: asyncpg.Connection
    topics: TopicNames
    pending: list[tuple[str, Event]] = field(default_factory=list)
    taken: int = 0  # events handed to a caller's own statement (`take`)

    def publish(self, topic: str, event: Event) -> None:
        """Queue `event` for `topic` (a contract name); it is written to the outbox at commit."""
        self.pending.append((topic, event))

    def _columns(self) -> tuple[list[str], list[str], list[str], list[str]]:
        """The queued events as the outbox's columns: event_id, topic, key, payload."""
        return ([e.event_id for _, e in self.pending], [self.topics(t) for t, _ in self.pending],
                [e.organization_id for _, e in self.pending], [e.model_dump_json() for _, e in self.pending])

    def take(self) -> tuple[list[str], list[str], list[str], list[str]]:
        """The queued events as the outbox's columns (event_id, topic, key, payload), for a caller whose
        last statement of the transaction writes them too (one round trip fewer). Only for the last
        statement: events written earlier than the transaction's last lock could take outbox ids out of
        commit order. They count as written (the relay is woken at commit)."""
        rows = self._columns()
        self.taken += len(self.pending)
        self.pending.clear()
        return rows

    async def flush(self) -> int:
        """Write the queued events into the outbox (part of this transaction)."""
        if not self.pending:
            return 0
        # One statement for the whole batch: executemany would cost a round of work per row.
        await self.conn.execute(
            "INSERT INTO outbox (event_id, topic, key, payload) "
            "SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])", *self._columns(),
        )
        count = len(self.pending)
        self.pending.clear()
        return count


class UnitOfWork:
    """Opens transactions on the service's pool; after a commit that wrote events it wakes the relay."""

    def __init__(self, pool: asyncpg.Pool, topics: TopicNames, on_commit: Callable[[], None] | None = None) -> None:
        self.pool = pool
        self.topics = topics
        self._on_commit = on_commit

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[Tx]:
        """Commits when the block ends normally, rolls back on any exception."""
        async with self.pool.acquire() as conn:
            async with self.transaction(conn) as tx:
                yield tx

    @asynccontextmanager
    async def transaction(self, conn: asyncpg.Connection) -> AsyncIterator[Tx]:
        tx = Tx(conn, self.topics)
        wrote = 0
        async with conn.transaction():
            yield tx
            wrote = await tx.flush() + tx.taken
        if wrote and self._on_commit is not None:
            self._on_commit()
