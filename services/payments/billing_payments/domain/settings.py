"""Payment-processing settings (DOMAIN.md section 3) and the rules for changing them."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from billing_shared.money import CURRENCIES

from .errors import PaymentError

ENVIRONMENTS = ("autotask", "client_portal")
METHOD_TYPES = ("credit_card", "echeck")


@dataclass(frozen=True)
class ProcessingSettings:
    active: bool = False
    currency: str | None = None
    accept_payments_in: tuple[str, ...] = ()
    payment_types: dict[str, tuple[str, ...]] = field(default_factory=dict)
    public_key: str | None = None
    private_key: str | None = None
    refund_via_gateway: bool = False
    auto_cancel_unsettled: bool = True

    def types_for(self, environment: str) -> tuple[str, ...]:
        return self.payment_types.get(environment, ()) if environment in self.accept_payments_in else ()


@dataclass(frozen=True)
class SettingsChange:
    """What a PUT asked for; None means "keep what is stored" (keys are write-only)."""

    active: bool | None = None
    currency: str | None = None
    accept_payments_in: tuple[str, ...] | None = None
    payment_types: dict[str, tuple[str, ...]] | None = None
    public_key: str | None = None
    private_key: str | None = None
    refund_via_gateway: bool | None = None
    auto_cancel_unsettled: bool | None = None


def change_settings(current: ProcessingSettings, change: SettingsChange) -> ProcessingSettings:
    if change.currency is not None:
        if change.currency not in CURRENCIES:
            raise PaymentError("invalid_request", f"currency must be one of {', '.join(CURRENCIES)}",
                               currency=change.currency)
        if current.currency is not None and change.currency != current.currency:
            raise PaymentError("currency_locked", f"the currency is {current.currency} and can never change",
                               currency=current.currency)
    for env in change.accept_payments_in or ():
        if env not in ENVIRONMENTS:
            raise PaymentError("invalid_request", f"unknown environment {env!r}", environment=env)
    for env, types in (change.payment_types or {}).items():
        if env not in ENVIRONMENTS or any(t not in METHOD_TYPES for t in types):
            raise PaymentError("invalid_request", f"payment types of {env!r} must be among {', '.join(METHOD_TYPES)}")
    updates = {k: v for k, v in vars(change).items() if v is not None}
    new = replace(current, **updates)
    if new.active:
        if not any(new.types_for(env) for env in ENVIRONMENTS):
            raise PaymentError("invalid_request", "processing can be active only with at least one payment type "
                               "enabled in an environment that accepts payments")
        if not new.private_key or not new.currency:
            raise PaymentError("invalid_request", "processing can be active only with a private key and a currency")
    return new
