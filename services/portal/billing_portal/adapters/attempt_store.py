"""Failed sign-ins, counted per account and per address for throttling."""
from __future__ import annotations

from datetime import timedelta

import asyncpg

Db = asyncpg.Connection | asyncpg.Pool


async def record_failure(db: Db, email: str, address: str) -> None:
    await db.execute("INSERT INTO sign_in_failures (email, address) VALUES ($1, $2)", email, address)


async def recent_failures(db: Db, email: str, address: str, window: timedelta) -> tuple[int, int]:
    row = await db.fetchrow(
        """SELECT count(*) FILTER (WHERE lower(email) = lower($1)) AS account,
                  count(*) FILTER (WHERE address = $2) AS address
           FROM sign_in_failures
           WHERE at > now() - $3::interval AND (lower(email) = lower($1) OR address = $2)""",
        email, address, window)
    return row["account"], row["address"]


async def forget(db: Db, email: str) -> None:
    """A successful sign-in clears the account's failures (not the address's)."""
    await db.execute("DELETE FROM sign_in_failures WHERE lower(email) = lower($1)", email)
