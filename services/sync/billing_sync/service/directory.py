"""Publishing the directory (`billing.directory.v1`): contacts as they change, organizations once
their default contact is known (at the end of a run's directory step)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from billing_shared.events.catalog import BILLING_DIRECTORY
from billing_shared.events.directory import ContactData, ContactSynced, OrganizationData, OrganizationSynced
from billing_shared.outbox import Tx

from billing_sync.adapters import directory_store
from billing_sync.domain.directory import default_contact
from billing_sync.service.publishing import PRODUCER


def contact_name(row: Mapping[str, Any]) -> str:
    return " ".join(p for p in (row["first_name"], row["last_name"]) if p) or row["email"] or row["contact_id"]


async def publish_contacts(tx: Tx, contact_ids: Sequence[str]) -> None:
    for row in await directory_store.contacts_by_id(tx.conn, contact_ids):
        tx.publish(BILLING_DIRECTORY, ContactSynced.new(
            producer=PRODUCER, organization_id=row["organization_id"],
            data=ContactData(contact_id=row["contact_id"], organization_id=row["organization_id"],
                             name=contact_name(row), email=row["email"], active=row["active"],
                             primary=row["is_primary"], billing=row["is_billing"]),
        ))


async def settle_organizations(tx: Tx) -> int:
    """Recompute default contacts where contacts changed; publish organizations that changed."""
    rows = await directory_store.organizations_to_publish(tx.conn)
    if not rows:
        return 0
    choices = await directory_store.contact_choices(tx.conn, [r["organization_id"] for r in rows])
    defaults: dict[str, str | None] = {}
    published = 0
    for row in rows:
        org = row["organization_id"]
        chosen = default_contact(choices.get(org, ()), row["accounting_email"])
        defaults[org] = chosen
        if row["dirty"] or chosen != row["default_contact_id"]:
            published += 1
            tx.publish(BILLING_DIRECTORY, OrganizationSynced.new(
                producer=PRODUCER, organization_id=org,
                data=OrganizationData(organization_id=org, name=row["name"], active=row["active"],
                                      default_contact_id=chosen),
            ))
    await directory_store.settle_organizations(tx.conn, defaults)
    return published
