"""Contacts from billing.directory.v1, as the portal needs them (invitations, active clients)."""
from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from billing_shared.events.directory import ContactData

Db = asyncpg.Connection | asyncpg.Pool


@dataclass(frozen=True)
class Contact:
    contact_id: str
    organization_id: str
    name: str
    email: str | None
    active: bool


async def upsert(conn: asyncpg.Connection, contacts: list[ContactData]) -> None:
    newest = {c.contact_id: c for c in contacts}
    if not newest:
        return
    values = list(newest.values())
    await conn.execute(
        """INSERT INTO contacts (contact_id, organization_id, name, email, active)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[])
           ON CONFLICT (contact_id) DO UPDATE SET organization_id = EXCLUDED.organization_id, name = EXCLUDED.name,
               email = EXCLUDED.email, active = EXCLUDED.active, updated_at = now()""",
        [c.contact_id for c in values], [c.organization_id for c in values], [c.name for c in values],
        [c.email for c in values], [c.active for c in values])


async def of_organization(db: Db, organization_id: str) -> list[Contact]:
    rows = await db.fetch("SELECT contact_id, organization_id, name, email, active FROM contacts "
                          "WHERE organization_id = $1 ORDER BY name, contact_id", organization_id)
    return [Contact(**dict(r)) for r in rows]


async def get(db: Db, contact_id: str) -> Contact | None:
    row = await db.fetchrow("SELECT contact_id, organization_id, name, email, active FROM contacts "
                            "WHERE contact_id = $1", contact_id)
    return Contact(**dict(row)) if row else None
