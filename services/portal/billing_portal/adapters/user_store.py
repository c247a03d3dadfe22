"""The portal's people."""
from __future__ import annotations

import uuid

import asyncpg

from billing_portal.domain.people import User

Db = asyncpg.Connection | asyncpg.Pool
_COLUMNS = "user_id::text, email, role, organization_id, contact_id, active, password_hash"


def _user(row: asyncpg.Record | None) -> User | None:
    return User(**dict(row)) if row is not None else None


async def by_email(db: Db, email: str) -> User | None:
    return _user(await db.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE lower(email) = lower($1)", email))


async def by_id(db: Db, user_id: str) -> User | None:
    return _user(await db.fetchrow(f"SELECT {_COLUMNS} FROM users WHERE user_id = $1", uuid.UUID(user_id)))


async def upsert(db: Db, *, email: str, password_hash: str, role: str, organization_id: str | None,
                 contact_id: str | None) -> None:
    await db.execute(
        """INSERT INTO users (user_id, email, password_hash, role, organization_id, contact_id)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT ((lower(email))) DO UPDATE SET
               password_hash = EXCLUDED.password_hash, role = EXCLUDED.role,
               organization_id = EXCLUDED.organization_id, contact_id = EXCLUDED.contact_id,
               active = true, updated_at = now()""",
        uuid.uuid4(), email, password_hash, role, organization_id, contact_id)


async def set_password_hash(db: Db, user_id: str, password_hash: str) -> None:
    await db.execute("UPDATE users SET password_hash = $2, updated_at = now() WHERE user_id = $1",
                     uuid.UUID(user_id), password_hash)
