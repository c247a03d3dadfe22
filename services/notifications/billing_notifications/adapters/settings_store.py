"""Channel switches per type, the ticketing configuration and the reminder schedule, in the service's schema."""
from __future__ import annotations

from dataclasses import asdict

import asyncpg

from billing_notifications.domain.catalog import ChannelSwitch, default_switches
from billing_notifications.domain.reminders import DEFAULT_DAYS
from billing_notifications.domain.tickets import TicketingSettings


async def channel_switches(conn: asyncpg.Connection) -> dict[str, ChannelSwitch]:
    switches = default_switches()
    for row in await conn.fetch("SELECT type, email, ticket FROM channel_settings"):
        if row["type"] in switches:
            switches[row["type"]] = ChannelSwitch(email=row["email"], ticket=row["ticket"])
    return switches


async def save_switches(conn: asyncpg.Connection, switches: dict[str, ChannelSwitch]) -> None:
    names = list(switches)
    await conn.execute(
        """INSERT INTO channel_settings (type, email, ticket)
           SELECT * FROM unnest($1::text[], $2::boolean[], $3::boolean[])
           ON CONFLICT (type) DO UPDATE SET email = EXCLUDED.email, ticket = EXCLUDED.ticket, updated_at = now()""",
        names, [switches[n].email for n in names], [switches[n].ticket for n in names],
    )


async def lock_switches(conn: asyncpg.Connection) -> None:
    """Changes of the switches are read-merge-write: one at a time."""
    await conn.execute("LOCK TABLE channel_settings IN SHARE ROW EXCLUSIVE MODE")


async def lock_ticketing(conn: asyncpg.Connection) -> None:
    await conn.execute("LOCK TABLE ticketing_settings IN SHARE ROW EXCLUSIVE MODE")


async def ticketing(conn: asyncpg.Connection) -> TicketingSettings:
    row = await conn.fetchrow(
        "SELECT queue_id, issue_type_id, priority, status, internal_company_id FROM ticketing_settings")
    return TicketingSettings(**dict(row)) if row else TicketingSettings()


async def save_ticketing(conn: asyncpg.Connection, settings: TicketingSettings) -> None:
    values = asdict(settings)
    await conn.execute(
        """INSERT INTO ticketing_settings (singleton, queue_id, issue_type_id, priority, status, internal_company_id)
           VALUES (true, $1, $2, $3, $4, $5)
           ON CONFLICT (singleton) DO UPDATE SET queue_id = EXCLUDED.queue_id,
               issue_type_id = EXCLUDED.issue_type_id, priority = EXCLUDED.priority, status = EXCLUDED.status,
               internal_company_id = EXCLUDED.internal_company_id, updated_at = now()""",
        values["queue_id"], values["issue_type_id"], values["priority"], values["status"],
        values["internal_company_id"],
    )


async def reminder_days(conn: asyncpg.Connection | asyncpg.Pool) -> tuple[int, ...]:
    days = await conn.fetchval("SELECT days_after_due FROM reminder_settings WHERE id = 1")
    return tuple(days) if days is not None else DEFAULT_DAYS


async def save_reminder_days(conn: asyncpg.Connection, days: tuple[int, ...]) -> None:
    await conn.execute(
        """INSERT INTO reminder_settings (id, days_after_due) VALUES (1, $1)
           ON CONFLICT (id) DO UPDATE SET days_after_due = EXCLUDED.days_after_due, updated_at = now()""", list(days))
