"""PSA tickets: which company a notification's ticket belongs to, and the marker that finds it again.

The marker carries the notification id. It ends the ticket's title (queryable in Autotask with
`contains`) and the description, so after a crash, or a create whose answer was lost, the
ticket can be looked up instead of created a second time.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

TITLE_MAX = 250  # Autotask Tickets.title [C]
DESCRIPTION_MAX = 8000  # Autotask Tickets.description [C]
STATUS_NEW = 1


@dataclass(frozen=True)
class TicketingSettings:
    """`GET/PUT /v1/settings/ticketing`. `status` and `internal_company_id` go beyond the contract:
    the status new tickets get, and the company of tickets about no client (sync, integrations);
    Autotask's own company has id 0."""

    queue_id: int | None = None
    issue_type_id: int | None = None
    priority: int = 2
    status: int = STATUS_NEW
    internal_company_id: int = 0


# Autotask reports a ticket it will never accept as a 4xx, or as a 500 whose errors[] say what is
# wrong with it [T: external-apis.md 1.5]: "Value 0 of companyID does not refer to an existing
# Companies record", "Value does not reference an existing entity for taskType", "When assigning
# a Resource, you must assign both ...", a missing required field, a read-only field. Sending the
# same ticket again cannot change that answer.
REJECTION_TEXTS = (
    "does not refer to an existing", "does not reference an existing", "no matching records found",
    "required field", "is required", "you must", "read-only", "read only", "expects", "invalid",
    "not valid", "not a valid", "exceeds the maximum",
)


def refusal_kind(status: int | None, messages: Sequence[str]) -> Literal["permanent", "transient"]:
    """Whether the PSA's refusal of a ticket is about the ticket itself (`permanent`) or about
    the moment (`transient`): no answer (connection, timeout), 408, 429, a 5xx that says nothing
    about the ticket (502/503/504, an unexplained 500). 401 and 403 are transient too: the
    credentials or the API user's permissions are wrong for every ticket, not this one, and an
    admin fixes them without re-driving each delivery."""
    if status is None or status in (401, 403, 408, 429):
        return "transient"
    if 400 <= status < 500:
        return "permanent"
    joined = " ".join(messages).lower()
    return "permanent" if any(text in joined for text in REJECTION_TEXTS) else "transient"


def marker(notification_id: str) -> str:
    return f"[BL-{notification_id}]"


def company_id(organization_id: str, internal_company_id: int) -> str:
    """`autotask:678` -> "678"; an organization that is no Autotask company gets the internal one."""
    source, _, external = organization_id.partition(":")
    if source == "autotask" and external.isdigit():
        return external
    return str(internal_company_id)


def title_with_marker(title: str, notification_id: str) -> str:
    tag = " " + marker(notification_id)
    room = TITLE_MAX - len(tag)
    if len(title) > room:
        title = title[: room - 3].rstrip() + "..."
    return title + tag


def description_with_marker(description: str, notification_id: str) -> str:
    tag = f"\n\nBilling link notification {notification_id} {marker(notification_id)}"
    room = DESCRIPTION_MAX - len(tag)
    if len(description) > room:
        description = description[: room - 3] + "..."
    return description + tag


def ticket_fields(*, company: str, title: str, description: str, queue_id: int | None,
                  issue_type_id: int | None, priority: int | None, status: int,
                  created_at: datetime, due_after: timedelta = timedelta(days=1)) -> dict[str, Any]:
    """The Tickets create body (Autotask field names). The due date is derived from the
    notification, so every attempt sends the same ticket."""
    fields: dict[str, Any] = {
        "companyID": int(company),
        "title": title,
        "description": description,
        "status": status,
        "priority": priority,
        "dueDateTime": created_at + due_after,
    }
    if queue_id is not None:
        fields["queueID"] = queue_id
    if issue_type_id is not None:
        fields["issueType"] = issue_type_id
    return fields
