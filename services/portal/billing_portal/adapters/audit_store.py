"""The audit log: every change made through the portal, with who and when."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

Db = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    email: str
    action: str
    target: str | None
    details: dict[str, Any]
    address: str | None


async def record(db: Db, *, user_id: str | None, email: str, action: str, target: str | None = None,
                 details: dict[str, Any] | None = None, address: str | None = None) -> None:
    await db.execute(
        "INSERT INTO audit_log (user_id, email, action, target, details, address) VALUES ($1, $2, $3, $4, $5, $6)",
        uuid.UUID(user_id) if user_id else None, email, action, target, details or {}, address)


async def page(db: Db, *, limit: int, before_id: int | None = None) -> list[AuditEntry]:
    rows = await db.fetch(
        """SELECT id, at, email, action, target, details, address FROM audit_log
           WHERE $1::bigint IS NULL OR id < $1 ORDER BY id DESC LIMIT $2""", before_id, limit)
    return [AuditEntry(**dict(r)) for r in rows]
