"""Service tickets in the PSA, through the one Autotask client (billing_shared.psa)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billing_shared.psa import (
    AutotaskClient, F, PsaAuthError, PsaBudgetExhausted, PsaError, PsaPermissionError, PsaRateLimited,
)
from billing_shared.psa.query import wire_value

from billing_notifications.domain import tickets
from billing_notifications.domain.delivery_policy import Problem, SendFailed


class PsaTicketDesk:
    def __init__(self, client: AutotaskClient) -> None:
        self.client = client

    async def find(self, company_id: int, marker: str) -> int | None:
        """The id of the company's ticket whose title carries `marker`, if there is one."""
        try:
            async for row in self.client.query("Tickets", [F.eq("companyID", company_id), F.contains("title", marker)],
                                               include_fields=["id", "title"], page_size=10):
                return int(row["id"])
        except PsaError as exc:
            raise SendFailed(Problem(f"looking for the ticket in the PSA failed: {exc}", "transient",
                                     uncertain=True)) from None
        return None

    async def create(self, fields: Mapping[str, Any]) -> int:
        try:
            return await self.client.create("Tickets", {k: wire_value(v) for k, v in fields.items()})
        except (PsaRateLimited, PsaBudgetExhausted) as exc:
            # Refused before the PSA acted on it: nothing was created.
            raise SendFailed(Problem(f"PSA refused the call for now: {exc}", "transient")) from None
        except (PsaAuthError, PsaPermissionError) as exc:
            # Credentials or permissions refused (a 500 may say so too): nothing was created;
            # retried (up to the horizon) in case the PSA's configuration is fixed meanwhile.
            raise SendFailed(Problem(f"PSA refused the ticket: {exc}", "transient")) from None
        except PsaError as exc:
            # A 4xx, or a 500 whose errors[] reject this ticket itself (a company that does not
            # exist, a missing field): sending it again cannot help, so it fails at once (an admin
            # can re-drive it). A lost answer or any other 5xx: the ticket may exist, so the next
            # attempt looks for it first.
            if tickets.refusal_kind(exc.status, exc.messages) == "permanent":
                raise SendFailed(Problem(f"PSA rejected the ticket: {exc}", "permanent")) from None
            unknown = exc.status is None or exc.status >= 500
            raise SendFailed(Problem(f"creating the ticket failed: {exc}", "transient",
                                     uncertain=unknown)) from None
