"""What recording one notification needs to know, read in one statement (it used to take five
round trips per consumed event: the channel switch, the ticketing settings, the organization's
name, the invoice numbers and the recipients)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from billing_notifications.adapters.directory_store import recipient_query
from billing_notifications.domain.catalog import ChannelSwitch, default_switches
from billing_notifications.domain.tickets import TicketingSettings


@dataclass(frozen=True)
class IntakeFacts:
    switch: ChannelSwitch
    ticketing: TicketingSettings
    organization_name: str | None
    invoice_numbers: dict[str, str]
    recipients: list[str]  # the organization's address as the directory knows it (only when asked)


_FACTS = """
SELECT s.email AS switch_email, s.ticket AS switch_ticket,
       (SELECT to_jsonb(t) FROM (SELECT queue_id, issue_type_id, priority, status, internal_company_id
                                 FROM ticketing_settings LIMIT 1) t) AS ticketing,
       (SELECT name FROM organizations WHERE organization_id = $2) AS organization_name,
       (SELECT COALESCE(jsonb_object_agg(invoice_id, invoice_number), '{}'::jsonb) FROM invoices
        WHERE invoice_id = ANY($3::text[]) AND invoice_number IS NOT NULL) AS invoice_numbers,
       CASE WHEN $4 THEN (RECIPIENT) END AS recipient
FROM (SELECT 1) AS one LEFT JOIN channel_settings s ON s.type = $1""".replace("RECIPIENT", recipient_query("$2"))


async def facts(conn: asyncpg.Connection, kind: str, organization_id: str, invoice_ids: Sequence[str], *,
                organization_address: bool) -> IntakeFacts:
    """`organization_address`: also look up the organization's recipient (directory_store's rule)."""
    row = await conn.fetchrow(_FACTS, kind, organization_id, list(invoice_ids), organization_address)
    switch = (ChannelSwitch(email=row["switch_email"], ticket=row["switch_ticket"])
              if row["switch_email"] is not None else default_switches()[kind])
    ticketing = TicketingSettings(**row["ticketing"]) if row["ticketing"] else TicketingSettings()
    return IntakeFacts(switch, ticketing, row["organization_name"], dict(row["invoice_numbers"]),
                       [row["recipient"]] if row["recipient"] else [])
