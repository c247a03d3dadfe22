"""The wallet: payment methods live in the gateway's vault; we keep the vault id, brand, last four and
expiry. A token used once without saving is vaulted only for that payment, then removed. A token saved
while paying is vaulted first (the vault tells its type), but it joins our wallet only in the transaction
that records the payment: a refused payment leaves no wallet entry and no `payment_method.added`."""
from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

import structlog

from billing_shared.events.catalog import BILLING_PAYMENTS
from billing_shared.events.payments import PaymentMethodAdded, PaymentMethodData
from billing_shared.outbox import Tx

from billing_payments.adapters import directory_store, wallet_store
from billing_payments.adapters.gateway import (
    GatewayError, GatewayOutcomeUnknown, GatewayRejected, GatewayUnavailable, VaultEntry,
)
from billing_payments.adapters.wallet_store import WalletMethod
from billing_payments.domain import rules
from billing_payments.domain.errors import PaymentError
from billing_payments.domain.payment import Method
from billing_payments.domain.settings import ProcessingSettings
from billing_payments.service.deps import Deps

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ResolvedMethod:
    method: Method
    vault_id: str | None
    method_id: str | None
    token: str | None
    temporary: bool  # vaulted only for one payment (or not saved yet): removed from the vault after it
    to_save: VaultEntry | None = None  # joins the wallet with the payment that uses it (`save_with_payment`)


_UNREAD = WalletMethod("", "", None, "", "", None, None, None, None)


async def resolve_method(deps: Deps, settings: ProcessingSettings, organization_id: str, *,
                         method_id: str | None, token: str | None, save: bool,
                         stored: WalletMethod | None = _UNREAD) -> ResolvedMethod:
    """`stored`: the wallet method named by `method_id` when the caller has read it already (None: none)."""
    if method_id:
        if stored is _UNREAD:
            stored = await wallet_store.get(deps.pool, method_id)
        if stored is None or stored.organization_id != organization_id:
            raise PaymentError("not_found", "payment method not found", method_id=method_id)
        return ResolvedMethod(Method(stored.type, stored.brand, stored.last4), stored.vault_id,  # type: ignore[arg-type]
                              stored.method_id, None, temporary=False)
    if not token:
        raise PaymentError("invalid_request", "payment_method needs a method_id or a token")
    entry = await _vault(deps, settings, token)
    method = Method(entry.method_type, entry.brand, entry.last4)
    return ResolvedMethod(method, entry.vault_id, None, token, temporary=True, to_save=entry if save else None)


async def save_with_payment(tx: Tx, method: ResolvedMethod, organization_id: str,
                            contact_id: str | None) -> ResolvedMethod:
    """Inside the transaction that records the payment: a method to be saved joins the wallet now."""
    if method.to_save is None:
        return method
    saved = await _add(tx, organization_id, contact_id, method.to_save)
    return replace(method, method_id=saved.method_id, token=None, temporary=False, to_save=None)


async def forget_unsaved(deps: Deps, settings: ProcessingSettings, method: ResolvedMethod) -> None:
    if not method.temporary or not method.vault_id:
        return
    try:
        await deps.gateway(settings).delete_from_vault(method.vault_id)
    except GatewayError as exc:  # an orphan vault entry holds no money; log it and go on
        log.warning("could not remove a one-time vault entry", vault_id=method.vault_id, error=repr(exc))


async def add_method(deps: Deps, organization_id: str, contact_id: str | None, token: str) -> WalletMethod:
    settings = await deps.settings()
    if not settings.private_key:
        raise PaymentError("processing_inactive", "no gateway keys are configured")
    if contact_id is not None:  # the method's contact is one of the organization's, as a payer is
        rules.check_payer(contact_id, await directory_store.find(deps.pool, contact_id), organization_id)
    entry = await _vault(deps, settings, token)
    async with deps.uow.begin() as tx:
        return await _add(tx, organization_id, contact_id, entry)


async def remove_method(deps: Deps, method: WalletMethod) -> None:
    settings = await deps.settings()
    try:
        await deps.gateway(settings).delete_from_vault(method.vault_id)
    except (GatewayUnavailable, GatewayOutcomeUnknown):
        raise PaymentError("gateway_unavailable", "the payment gateway cannot be reached; nothing was removed") \
            from None
    await wallet_store.delete(deps.pool, method.method_id)


async def _vault(deps: Deps, settings: ProcessingSettings, token: str) -> VaultEntry:
    try:
        return await deps.gateway(settings).add_to_vault(token)
    except GatewayRejected as exc:
        raise PaymentError("invalid_request", f"the gateway did not accept the payment token: {exc.reason}") \
            from None
    except (GatewayUnavailable, GatewayOutcomeUnknown):
        raise PaymentError("gateway_unavailable", "the payment gateway cannot be reached") from None


async def _add(tx: Tx, organization_id: str, contact_id: str | None, entry: VaultEntry) -> WalletMethod:
    method = WalletMethod(str(uuid.uuid4()), organization_id, contact_id, entry.vault_id, entry.method_type,
                          entry.brand, entry.last4, entry.exp_month, entry.exp_year)
    await wallet_store.add(tx.conn, method)
    tx.publish(BILLING_PAYMENTS, PaymentMethodAdded.new(
        producer="payments", organization_id=organization_id,
        data=PaymentMethodData(method_id=method.method_id, organization_id=organization_id, contact_id=contact_id,
                               type=method.type, brand=method.brand, last4=method.last4,  # type: ignore[arg-type]
                               exp_month=method.exp_month, exp_year=method.exp_year),
    ))
    return method
