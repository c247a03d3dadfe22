"""Test connection: one cheap authenticated call with the stored settings; a failure is also
published as `integration.connection_failed`."""
from __future__ import annotations

from billing_shared.psa import PsaError

from billing_sync.adapters.quickbooks import QuickBooksError
from billing_sync.domain.integrations import AUTOTASK
from billing_sync.service.deps import Deps
from billing_sync.service.runs import publish_connection_failed


async def test_connection(deps: Deps, integration: str) -> tuple[bool, str | None] | None:
    """(ok, reason), or None when the integration is not configured."""
    try:
        if integration == AUTOTASK:
            psa = await deps.connections.autotask()
            if psa is None:
                return None
            await psa.client.check()
        else:
            accounting = await deps.connections.quickbooks()
            if accounting is None:
                return None
            await accounting.client.check()
        return True, None
    except (PsaError, QuickBooksError, ValueError) as exc:
        reason = f"{'Autotask' if integration == AUTOTASK else 'QuickBooks'}: {exc}"[:1000]
    async with deps.uow.begin() as tx:
        publish_connection_failed(tx, integration, reason)
    return False, reason


