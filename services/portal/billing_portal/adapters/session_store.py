"""Server-side sessions. The cookie carries a random token; the table keeps its SHA-256."""
from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

Db = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True)
class Session:
    user_id: str
    csrf_token: str


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create(db: Db, user_id: str, csrf_token: str, expires_at: datetime) -> str:
    token = secrets.token_urlsafe(32)
    await db.execute("INSERT INTO sessions (token_hash, user_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)",
                     _digest(token), uuid.UUID(user_id), csrf_token, expires_at)
    return token


async def touch(db: Db, token: str, idle: timedelta) -> Session | None:
    """The live session of this token, its idle time renewed; None when unknown, idle too long or expired."""
    row = await db.fetchrow(
        """UPDATE sessions SET last_seen_at = now()
           WHERE token_hash = $1 AND expires_at > now() AND last_seen_at > now() - $2::interval
           RETURNING user_id::text, csrf_token""",
        _digest(token), idle)
    return Session(row["user_id"], row["csrf_token"]) if row else None


async def end(db: Db, token: str) -> None:
    await db.execute("DELETE FROM sessions WHERE token_hash = $1", _digest(token))


async def sweep(db: Db, idle: timedelta) -> int:
    done = await db.execute("DELETE FROM sessions WHERE expires_at <= now() OR last_seen_at <= now() - $1::interval",
                            idle)
    return int(done.split()[-1])
