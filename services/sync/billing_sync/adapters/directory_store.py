"""Organizations, contacts, contracts, tickets and opportunities in SQL, one statement per page."""
from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from billing_sync.adapters.db import Db
from billing_sync.domain.directory import ContactChoice
from billing_sync.domain.psa import Contact, Contract, Opportunity, Organization, Ticket


def _columns(rows: Sequence[tuple]) -> list[list]:
    return [list(c) for c in zip(*rows, strict=True)]


async def upsert_organizations(conn: asyncpg.Connection, orgs: Sequence[Organization]) -> int:
    """New or changed (name, active) organizations are marked dirty: published when the run's
    directory step ends, together with their default contact."""
    if not orgs:
        return 0
    status = await conn.execute(
        """INSERT INTO organizations AS o (organization_id, source, external_id, name, active, psa_changed_at, dirty)
           SELECT u.*, true FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[],
                                        $6::timestamptz[]) AS u
           ON CONFLICT (organization_id) DO UPDATE SET
               name = EXCLUDED.name, active = EXCLUDED.active, psa_changed_at = EXCLUDED.psa_changed_at,
               dirty = o.dirty OR o.name IS DISTINCT FROM EXCLUDED.name OR o.active IS DISTINCT FROM EXCLUDED.active,
               updated_at = now()""",
        *_columns([(o.organization_id, "autotask", o.external_id, o.name, o.active, o.changed_at) for o in orgs]),
    )
    return int(status.split()[-1])


async def upsert_contacts(conn: asyncpg.Connection, contacts: Sequence[Contact]) -> list[str]:
    """Returns the ids of the contacts that are new or changed; their organizations recheck defaults."""
    if not contacts:
        return []
    rows = await conn.fetch(
        """WITH changed AS (
             INSERT INTO contacts AS c (contact_id, organization_id, external_id, first_name, last_name, email,
                                        active, is_primary, is_billing, psa_changed_at)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                  $7::bool[], $8::bool[], $9::bool[], $10::timestamptz[])
             ON CONFLICT (contact_id) DO UPDATE SET
                 organization_id = EXCLUDED.organization_id, first_name = EXCLUDED.first_name,
                 last_name = EXCLUDED.last_name, email = EXCLUDED.email, active = EXCLUDED.active,
                 is_primary = EXCLUDED.is_primary, is_billing = EXCLUDED.is_billing,
                 psa_changed_at = EXCLUDED.psa_changed_at, updated_at = now()
             WHERE (c.organization_id, c.first_name, c.last_name, c.email, c.active, c.is_primary, c.is_billing)
                   IS DISTINCT FROM (EXCLUDED.organization_id, EXCLUDED.first_name, EXCLUDED.last_name,
                                     EXCLUDED.email, EXCLUDED.active, EXCLUDED.is_primary, EXCLUDED.is_billing)
             RETURNING contact_id, organization_id),
           flagged AS (
             UPDATE organizations SET recheck_default = true
             WHERE organization_id IN (SELECT organization_id FROM changed) AND NOT recheck_default)
           SELECT contact_id FROM changed""",
        *_columns([(c.contact_id, c.organization_id, c.external_id, c.first_name, c.last_name, c.email, c.active,
                    c.primary, c.billing, c.changed_at) for c in contacts]),
    )
    return [r["contact_id"] for r in rows]


async def upsert_contracts(conn: asyncpg.Connection, contracts: Sequence[Contract]) -> None:
    if not contracts:
        return
    await conn.execute(
        """INSERT INTO contracts AS c (contract_id, organization_id, name, number, status, start_date, end_date,
                                       psa_changed_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::date[], $7::date[],
                                $8::timestamptz[])
           ON CONFLICT (contract_id) DO UPDATE SET organization_id = EXCLUDED.organization_id,
               name = EXCLUDED.name, number = EXCLUDED.number, status = EXCLUDED.status,
               start_date = EXCLUDED.start_date, end_date = EXCLUDED.end_date,
               psa_changed_at = EXCLUDED.psa_changed_at, updated_at = now()""",
        *_columns([(c.contract_id, c.organization_id, c.name, c.number, c.status, c.start_date, c.end_date,
                    c.changed_at) for c in contracts]),
    )


async def upsert_tickets(conn: asyncpg.Connection, tickets: Sequence[Ticket]) -> None:
    if not tickets:
        return
    await conn.execute(
        """INSERT INTO tickets AS t (ticket_id, organization_id, number, title, status, priority, psa_changed_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[],
                                $7::timestamptz[])
           ON CONFLICT (ticket_id) DO UPDATE SET organization_id = EXCLUDED.organization_id,
               number = EXCLUDED.number, title = EXCLUDED.title, status = EXCLUDED.status,
               priority = EXCLUDED.priority, psa_changed_at = EXCLUDED.psa_changed_at, updated_at = now()""",
        *_columns([(t.ticket_id, t.organization_id, t.number, t.title, t.status, t.priority, t.changed_at)
                   for t in tickets]),
    )


async def upsert_opportunities(conn: asyncpg.Connection, opportunities: Sequence[Opportunity]) -> None:
    if not opportunities:
        return
    await conn.execute(
        """INSERT INTO opportunities AS o (opportunity_id, organization_id, title, status, amount, user_fields,
                                           psa_changed_at)
           SELECT u.opportunity_id, u.organization_id, u.title, u.status, u.amount, u.user_fields::jsonb,
                  u.changed_at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::numeric[], $6::text[],
                       $7::timestamptz[]) AS u(opportunity_id, organization_id, title, status, amount,
                                                user_fields, changed_at)
           ON CONFLICT (opportunity_id) DO UPDATE SET organization_id = EXCLUDED.organization_id,
               title = EXCLUDED.title, status = EXCLUDED.status, amount = EXCLUDED.amount,
               user_fields = EXCLUDED.user_fields, psa_changed_at = EXCLUDED.psa_changed_at, updated_at = now()""",
        *_columns([(o.opportunity_id, o.organization_id, o.title, o.status, o.amount, json.dumps(list(o.user_fields)),
                    o.changed_at) for o in opportunities]),
    )


async def organizations_to_publish(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    """Organizations that changed or whose contacts did, locked until the directory step commits."""
    return await conn.fetch(
        """SELECT organization_id, name, active, default_contact_id, accounting_email, dirty FROM organizations
           WHERE dirty OR recheck_default ORDER BY organization_id FOR UPDATE""")


async def contact_choices(conn: asyncpg.Connection, organization_ids: Sequence[str]) -> dict[str, list[ContactChoice]]:
    rows = await conn.fetch(
        """SELECT organization_id, contact_id, email, active, is_primary, is_billing FROM contacts
           WHERE organization_id = ANY($1::text[])""", list(organization_ids))
    out: dict[str, list[ContactChoice]] = {}
    for r in rows:
        out.setdefault(r["organization_id"], []).append(
            ContactChoice(r["contact_id"], r["email"], r["active"], r["is_primary"], r["is_billing"]))
    return out


async def settle_organizations(conn: asyncpg.Connection, defaults: dict[str, str | None]) -> None:
    """Store the default contacts and clear the flags (the caller publishes in the same transaction)."""
    if not defaults:
        return
    ids = list(defaults)
    await conn.execute(
        """UPDATE organizations o SET default_contact_id = u.default_contact_id, dirty = false,
               recheck_default = false, updated_at = now()
           FROM unnest($1::text[], $2::text[]) AS u(organization_id, default_contact_id)
           WHERE o.organization_id = u.organization_id""",
        ids, [defaults[i] for i in ids],
    )


async def contacts_by_id(conn: asyncpg.Connection, contact_ids: Sequence[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        """SELECT contact_id, organization_id, first_name, last_name, email, active, is_primary, is_billing
           FROM contacts WHERE contact_id = ANY($1::text[])""", list(contact_ids))


async def organizations_page(conn: Db, after: str, limit: int, name_contains: str | None = None) -> list[asyncpg.Record]:
    """Organizations by id, after `after`, for the staff's listing; those whose name holds `name_contains`
    (any case) when it is given."""
    pattern = None
    if name_contains:
        pattern = "%" + name_contains.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return await conn.fetch(
        """SELECT organization_id, name, active, default_contact_id FROM organizations
           WHERE organization_id > $1 AND ($3::text IS NULL OR name ILIKE $3)
           ORDER BY organization_id LIMIT $2""",
        after, limit, pattern,
    )


async def organization_exists(conn: Db, organization_id: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM organizations WHERE organization_id = $1)",
                                    organization_id))


async def contacts_page(conn: Db, organization_id: str, after: str, limit: int) -> list[asyncpg.Record]:
    """An organization's contacts by id, after `after`."""
    return await conn.fetch(
        """SELECT contact_id, organization_id, first_name, last_name, email, active, is_primary, is_billing
           FROM contacts WHERE organization_id = $1 AND contact_id > $2 ORDER BY contact_id LIMIT $3""",
        organization_id, after, limit,
    )


async def open_opportunities_page(conn: Db, organization_id: str, after: str, limit: int) -> list[asyncpg.Record]:
    """An organization's open opportunities (status 1) by id, after `after`."""
    return await conn.fetch(
        """SELECT opportunity_id, organization_id, title, amount, user_fields FROM opportunities
           WHERE organization_id = $1 AND status = 1 AND opportunity_id > $2 ORDER BY opportunity_id LIMIT $3""",
        organization_id, after, limit,
    )


async def all_organization_names(conn: Db) -> list[asyncpg.Record]:
    return await conn.fetch("SELECT organization_id, name FROM organizations")


async def organization_names(conn: Db, ids: Sequence[str]) -> dict[str, asyncpg.Record]:
    rows = await conn.fetch(
        """SELECT organization_id, name, accounting_customer_id, accounting_email FROM organizations
           WHERE organization_id = ANY($1::text[])""", list(ids))
    return {r["organization_id"]: r for r in rows}


async def link_customers(conn: asyncpg.Connection, links: Sequence[tuple[str, str, str | None]]) -> None:
    """(organization_id, accounting customer id, customer e-mail): a changed e-mail rechecks the default."""
    if not links:
        return
    await conn.execute(
        """UPDATE organizations o SET accounting_customer_id = u.customer_id, accounting_email = u.email,
               recheck_default = o.recheck_default OR o.accounting_email IS DISTINCT FROM u.email
           FROM unnest($1::text[], $2::text[], $3::text[]) AS u(organization_id, customer_id, email)
           WHERE o.organization_id = u.organization_id
             AND (o.accounting_customer_id, o.accounting_email) IS DISTINCT FROM (u.customer_id, u.email)""",
        *_columns(list(links)),
    )
