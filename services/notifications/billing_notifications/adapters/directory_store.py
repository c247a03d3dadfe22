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


def recipient_query(organization: str) -> str:
    """The SELECT of an organization's address (`organization`: its id, a parameter or a column), for
    statements that read it along with other things."""
    return f"""SELECT c.email FROM contacts c
           LEFT JOIN organizations o ON o.organization_id = c.organization_id
           WHERE c.organization_id = {organization} AND c.active AND c.email IS NOT NULL AND c.email <> ''
           ORDER BY (c.contact_id = o.default_contact_id) IS TRUE DESC, c.is_billing DESC, c.is_primary DESC,
                    c.contact_id
           LIMIT 1"""


async def recipients(conn: asyncpg.Connection, organization_id: str) -> list[str]:
    """The default contact's address; without one, an active billing (then primary) contact's."""
    email = await conn.fetchval(recipient_query("$1"), organization_id)
    return [email] if email else []
