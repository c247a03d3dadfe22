"""Postgres: one pool per service, confined to the service's own schema."""
from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

import asyncpg


async def _init_connection(conn: asyncpg.Connection,
                           on_connect: Callable[[asyncpg.Connection], Any] | None = None) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    if on_connect is not None:
        on_connect(conn)


async def _reset(conn: asyncpg.Connection) -> None:
    """asyncpg's default reset costs a round trip on every release (RESET ALL, UNLISTEN, ...). Our
    connections keep no session state beyond their search_path, so only an open transaction needs
    undoing; advisory locks are held on connections that are never released while locked."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(dsn: str, schema: str, *, min_size: int = 1, max_size: int = 10,
                      on_connect: Callable[[asyncpg.Connection], Any] | None = None) -> asyncpg.Pool:
    """Every connection's search_path is the service's schema, so it never reads another's tables.
    `on_connect` is called with each new connection (tests: a query logger that counts round trips)."""
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await admin.close()
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        server_settings={"search_path": schema, "application_name": f"billing-{schema}"},
        init=partial(_init_connection, on_connect=on_connect),
        reset=_reset,
    )
    assert pool is not None
    return pool
