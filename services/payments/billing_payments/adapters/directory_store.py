"""Contacts from billing.directory.v1: enough to check that a payer belongs to an organization."""
from __future__ import annotations

import asyncpg

from billing_shared.events.directory import ContactData

from billing_payments.domain.rules import KnownContact


async def upsert_contacts(conn: asyncpg.Connection, contacts: list[ContactData]) -> None:
    newest = {c.contact_id: c for c in contacts}
    if not newest:
        return
    await conn.execute(
        """INSERT INTO contacts (contact_id, organization_id, active)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bool[])
           ON CONFLICT (contact_id) DO UPDATE SET organization_id = EXCLUDED.organization_id,
               active = EXCLUDED.active, updated_at = now()""",
        list(newest), [c.organization_id for c in newest.values()], [c.active for c in newest.values()],
    )


async def find(conn: asyncpg.Connection | asyncpg.Pool, contact_id: str) -> KnownContact | None:
    row = await conn.fetchrow("SELECT organization_id, active FROM contacts WHERE contact_id = $1", contact_id)
    return KnownContact(contact_id, row["organization_id"], row["active"]) if row else None


async def organization_known(conn: asyncpg.Connection | asyncpg.Pool, organization_id: str) -> bool:
    """Payments knows an organization by its contacts (billing.directory.v1) or its invoices."""
    return bool(await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM contacts WHERE organization_id = $1)
                  OR EXISTS (SELECT 1 FROM invoices WHERE organization_id = $1)""", organization_id))
