"""Client profiles: named sets of what a client contact may do."""
from __future__ import annotations

import uuid

import asyncpg

from billing_portal.domain.people import ClientProfile

Db = asyncpg.Connection | asyncpg.Pool
_COLUMNS = "profile_id::text, name, view_invoices, make_payments, view_quotes, autopay"


async def all_profiles(db: Db) -> list[ClientProfile]:
    return [ClientProfile(**dict(r)) for r in await db.fetch(f"SELECT {_COLUMNS} FROM client_profiles ORDER BY lower(name)")]


async def create(db: Db, name: str, permissions: set[str]) -> str | None:
    """The new profile's id; None when a profile of that name exists."""
    profile_id = uuid.uuid4()
    done = await db.execute(
        """INSERT INTO client_profiles (profile_id, name, view_invoices, make_payments, view_quotes, autopay)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
        profile_id, name, "view_invoices" in permissions, "make_payments" in permissions, "view_quotes" in permissions,
        "autopay" in permissions)
    return str(profile_id) if done.split()[-1] == "1" else None


async def update(db: Db, profile_id: str, permissions: set[str]) -> bool:
    done = await db.execute(
        """UPDATE client_profiles SET view_invoices = $2, make_payments = $3, view_quotes = $4, autopay = $5,
               updated_at = now()
           WHERE profile_id = $1""",
        uuid.UUID(profile_id), "view_invoices" in permissions, "make_payments" in permissions,
        "view_quotes" in permissions, "autopay" in permissions)
    return done.split()[-1] != "0"
