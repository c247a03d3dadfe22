"""Payment-processing settings: read (keys masked), changed (rules in the domain), tested at the gateway."""
from __future__ import annotations

from billing_payments.adapters import settings_store
from billing_payments.adapters.gateway import GatewayError
from billing_payments.domain.settings import ProcessingSettings, SettingsChange, change_settings
from billing_payments.service.deps import Deps


async def update(deps: Deps, change: SettingsChange) -> ProcessingSettings:
    async with deps.uow.begin() as tx:
        await settings_store.lock(tx.conn)
        current = await settings_store.load(tx.conn, deps.box)
        new = change_settings(current, change)
        await settings_store.save(tx.conn, new, deps.box)
    deps.forget_settings()
    return new


async def test_keys(deps: Deps) -> tuple[bool, str | None]:
    settings = await deps.settings()
    if not settings.private_key:
        return False, "no private key is stored"
    try:
        return await deps.gateway(settings).check_keys()
    except GatewayError as exc:
        return False, f"the gateway cannot be reached: {type(exc).__name__}"
