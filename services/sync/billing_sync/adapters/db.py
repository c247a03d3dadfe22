"""What the SQL adapters take: a connection (inside a transaction), or the pool for a one-statement read."""
from __future__ import annotations

import asyncpg

Db = asyncpg.Connection | asyncpg.Pool
