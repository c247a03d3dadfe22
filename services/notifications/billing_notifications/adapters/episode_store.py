"""Failure episodes of integrations: `integration.connection_failed` notifies once per episode.

An episode opens with the first connection failure after the integration last worked and lasts
until a sync run of that integration completes; the failure after that opens the next episode.
Sync events of one organization come in order (one partition), so the episode a failure falls in
is the one its consumer sees.
"""
from __future__ import annotations

from collections.abc import Sequence

import asyncpg


async def failing(conn: asyncpg.Connection, organization_id: str, integration: str) -> int:
    """A connection failure: the number of the episode it belongs to (opened now if none is)."""
    return await conn.fetchval(
        """INSERT INTO integration_episodes (organization_id, integration, episode, failing)
           VALUES ($1, $2, 1, true)
           ON CONFLICT (organization_id, integration) DO UPDATE SET failing = true, updated_at = now()
           RETURNING episode""",
        organization_id, integration,
    )


async def working(conn: asyncpg.Connection, organization_id: str, integrations: Sequence[str]) -> None:
    """The integrations worked (a run completed): an open episode ends; the next failure is news."""
    await conn.execute(
        """UPDATE integration_episodes SET episode = episode + 1, failing = false, updated_at = now()
           WHERE organization_id = $1 AND integration = ANY($2::text[]) AND failing""",
        organization_id, list(integrations),
    )
