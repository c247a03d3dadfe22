"""Schema migrations: ordered `NNN_name.sql` files applied once each, inside the service's schema.

The shared plumbing tables (outbox, inbox) come first, then the service's own files. A transaction-level
advisory lock keeps concurrent replicas from applying the same file twice.
"""
from __future__ import annotations

from importlib import resources

import asyncpg
import structlog

log = structlog.get_logger(__name__)

PLUMBING = "billing_shared"


def _sql_files(package: str) -> list[tuple[str, str]]:
    root = resources.files(package) / "migrations"
    names = sorted(p.name for p in root.iterdir() if p.name.endswith(".sql"))
    return [(name, (root / name).read_text()) for name in names]


async def migrate(pool: asyncpg.Pool, schema: str, package: str | None) -> list[str]:
    """Apply the plumbing migrations, then `package`'s own (if any); returns the names applied now."""
    applied_now: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations (
                    source text NOT NULL, name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (source, name))"""
        )
        done = {
            (r["source"], r["name"])
            for r in await conn.fetch(f'SELECT source, name FROM "{schema}".schema_migrations')
        }
        for source in (PLUMBING, package) if package else (PLUMBING,):
            for name, sql in _sql_files(source):
                if (source, name) in done:
                    continue
                await conn.execute(sql)
                await conn.execute(
                    f'INSERT INTO "{schema}".schema_migrations (source, name) VALUES ($1, $2)', source, name
                )
                applied_now.append(f"{source}/{name}")
    if applied_now:
        log.info("migrations applied", schema=schema, applied=applied_now)
    return applied_now
