"""The directory projection: organizations and contacts from `billing.directory.v1`."""
from __future__ import annotations

import asyncpg

from billing_shared.events.directory import ContactData, OrganizationData


async def upsert_organization(conn: asyncpg.Connection, org: OrganizationData) -> None:
    await conn.execute(
        """INSERT INTO organizations (organization_id, name, active, default_contact_id) VALUES ($1, $2, $3, $4)
           ON CONFLICT (organization_id) DO UPDATE SET name = EXCLUDED.name, active = EXCLUDED.active,
               default_contact_id = EXCLUDED.default_contact_id, updated_at = now()""",
        org.organization_id, org.name, org.active, org.default_contact_id,
    )


async def upsert_contact(conn: asyncpg.Connection, c: ContactData) -> None:
    await conn.execute(
        """INSERT INTO contacts (contact_id, organization_id, name, email, active, is_primary, is_billing)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (contact_id) DO UPDATE SET organization_id = EXCLUDED.organization_id,
               name = EXCLUDED.name, email = EXCLUDED.email, active = EXCLUDED.active,
               is_primary = EXCLUDED.is_primary, is_billing = EXCLUDED.is_billing, updated_at = now()""",
        c.contact_id, c.organization_id, c.name, c.email, c.active, c.primary, c.billing,
    )


async def recipient(conn: asyncpg.Connection, organization_id: str) -> tuple[str | None, list[str]]:
    """(organization name, email addresses): the default contact's address, else the billing or
    primary contact's."""
    org = await conn.fetchrow("SELECT name, default_contact_id FROM organizations WHERE organization_id = $1",
                              organization_id)
    email = await conn.fetchval(
        """SELECT email FROM contacts
           WHERE organization_id = $1 AND active AND email IS NOT NULL AND email <> ''
           ORDER BY (contact_id = $2) DESC, is_billing DESC, is_primary DESC, contact_id LIMIT 1""",
        organization_id, org["default_contact_id"] if org else None,
    )
    return (org["name"] if org else None), ([email] if email else [])
