"""The accounting customer of an organization: the one linked by name, else found or created now."""
from __future__ import annotations

from billing_shared.outbox import UnitOfWork

from billing_sync.adapters import directory_store
from billing_sync.adapters.accounting import Accounting


async def customer_for(uow: UnitOfWork, accounting: Accounting, organization_id: str, currency: str) -> str:
    org = (await directory_store.organization_names(uow.pool, [organization_id])).get(organization_id)
    if org is not None and org["accounting_customer_id"]:
        return org["accounting_customer_id"]
    name = org["name"] if org is not None else organization_id
    customer = await accounting.ensure_customer(name, currency)
    email = (customer.get("PrimaryEmailAddr") or {}).get("Address")
    async with uow.begin() as tx:
        await directory_store.link_customers(tx.conn, [(organization_id, str(customer["Id"]), email)])
    return str(customer["Id"])
