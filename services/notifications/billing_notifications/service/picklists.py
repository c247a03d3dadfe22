"""Ticketing values checked against the tenant's own picklists, when the PSA can be asked."""
from __future__ import annotations

from billing_shared.psa import PsaError

from billing_notifications.service.desks import PsaDesks

# The ticketing settings' fields and the Tickets picklist each names a value of.
PICKLIST_OF = {"queue_id": "queueID", "issue_type_id": "issueType", "priority": "priority", "status": "status"}


async def unknown_values(desks: PsaDesks, values: dict[str, int | None]) -> dict[str, str]:
    """The fields whose value is not an active choice of the PSA's picklist, with why. Nothing when no
    PSA connection is configured or the PSA does not answer: a ticket it refuses later fails visibly."""
    client = await desks.client()
    if client is None:
        return {}
    problems: dict[str, str] = {}
    try:
        for name, value in values.items():
            if value is None or name not in PICKLIST_OF:
                continue
            choices = await client.picklist("Tickets", PICKLIST_OF[name])
            if value not in {c.value for c in choices}:
                labels = ", ".join(f"{c.value} ({c.label})" for c in choices[:12])
                problems[name] = f"{value} is not an active Autotask {PICKLIST_OF[name]}; choose one of {labels}"
    except PsaError:
        return {}
    return problems
