"""The portal's people."""
from __future__ import annotations

import uuid

import asyncpg

from billing_portal.domain.people import DEFAULT_PROFILE_ID, PERMISSIONS, User

Db = asyncpg.Connection | asyncpg.Pool
# A client whose contact the directory shows inactive is not active either: it can neither sign in nor go on.
_SELECT = """SELECT u.user_id::text, u.email, u.role, u.organization_id, u.contact_id,
                    u.active AND COALESCE(c.active, true) AS active, u.password_hash,
                    p.view_invoices, p.make_payments, p.view_quotes, p.autopay
             FROM users u LEFT JOIN client_profiles p USING (profile_id)
                  LEFT JOIN contacts c ON c.contact_id = u.contact_id AND u.role = 'client'"""


def _user(row: asyncpg.Record | None) -> User | None:
    if row is None:
        return None
    values = dict(row)
    allowed = {name for name in PERMISSIONS if values.pop(name)}
    return User(**values, permissions=frozenset(allowed) if values["role"] == "client" else None)


async def by_email(db: Db, email: str) -> User | None:
    return _user(await db.fetchrow(f"{_SELECT} WHERE lower(u.email) = lower($1)", email))


async def by_id(db: Db, user_id: str) -> User | None:
    return _user(await db.fetchrow(f"{_SELECT} WHERE u.user_id = $1", uuid.UUID(user_id)))


async def clients(db: Db) -> list[tuple[User, str]]:
    """Client users with their profile's id, by organization and email."""
    rows = await db.fetch(f"{_SELECT} WHERE u.role = 'client' ORDER BY u.organization_id, lower(u.email)")
    profiles = await db.fetch("SELECT user_id::text, profile_id::text FROM users WHERE role = 'client'")
    profile_of = {r["user_id"]: r["profile_id"] for r in profiles}
    found = [_user(r) for r in rows]
    return [(u, profile_of[u.user_id]) for u in found if u is not None]


async def set_profile(db: Db, user_id: str, profile_id: str) -> bool:
    done = await db.execute("UPDATE users SET profile_id = $2, updated_at = now() WHERE user_id = $1 AND role = 'client'",
                            uuid.UUID(user_id), uuid.UUID(profile_id))
    return done.split()[-1] != "0"


async def upsert(db: Db, *, email: str, password_hash: str, role: str, organization_id: str | None,
                 contact_id: str | None) -> None:
    await db.execute(
        """INSERT INTO users (user_id, email, password_hash, role, organization_id, contact_id, profile_id)
           VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $4 = 'client' THEN $7::uuid END)
           ON CONFLICT ((lower(email))) DO UPDATE SET
               password_hash = EXCLUDED.password_hash, role = EXCLUDED.role,
               organization_id = EXCLUDED.organization_id, contact_id = EXCLUDED.contact_id,
               profile_id = COALESCE(users.profile_id, EXCLUDED.profile_id), active = true, updated_at = now()""",
        uuid.uuid4(), email, password_hash, role, organization_id, contact_id, DEFAULT_PROFILE_ID)


async def upsert_invited(conn: asyncpg.Connection, *, email: str, password_hash: str, organization_id: str,
                         contact_id: str, profile_id: str) -> str:
    """The client an invitation makes (or renews: a second invitation resets the password)."""
    return str(await conn.fetchval(
        """INSERT INTO users (user_id, email, password_hash, role, organization_id, contact_id, profile_id)
           VALUES ($1, $2, $3, 'client', $4, $5, $6)
           ON CONFLICT ((lower(email))) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = 'client',
               organization_id = EXCLUDED.organization_id, contact_id = EXCLUDED.contact_id,
               profile_id = EXCLUDED.profile_id, active = true, updated_at = now()
           RETURNING user_id""",
        uuid.uuid4(), email, password_hash, organization_id, contact_id, uuid.UUID(profile_id)))
