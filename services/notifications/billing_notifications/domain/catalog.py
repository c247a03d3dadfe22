"""The notification types, who each one is for, and which channels are on by default.

Defaults (documented in the service README and answered by `GET /v1/settings/notifications`):
client-facing payment and invoice news goes out as email; problems that need staff to act
(money left unapplied, chargebacks, failed settlements, sync and integration trouble) open a
PSA service ticket.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# client: the organization's default contact; staff: STAFF_EMAIL; invitee: the address the event names.
Audience = Literal["client", "staff", "invitee"]
CHANNELS: tuple[str, ...] = ("email", "ticket")


@dataclass(frozen=True)
class ChannelSwitch:
    email: bool
    ticket: bool

    def channels(self) -> list[str]:
        return [c for c in CHANNELS if getattr(self, c)]


@dataclass(frozen=True)
class TypeInfo:
    audience: Audience
    default: ChannelSwitch


_ON_EMAIL = ChannelSwitch(email=True, ticket=False)
_ON_TICKET = ChannelSwitch(email=False, ticket=True)
_ON_BOTH = ChannelSwitch(email=True, ticket=True)

TYPES: dict[str, TypeInfo] = {
    "payment.succeeded": TypeInfo("client", _ON_EMAIL),
    "payment.failed": TypeInfo("client", _ON_EMAIL),
    "payment.refunded": TypeInfo("client", _ON_EMAIL),
    "payment.cancelled": TypeInfo("client", _ON_EMAIL),
    "payment.charged_back": TypeInfo("client", _ON_TICKET),
    "payment.settlement_failed": TypeInfo("client", _ON_BOTH),
    "payment.unapplied": TypeInfo("client", _ON_TICKET),
    "payment.refund_failed": TypeInfo("staff", _ON_TICKET),
    "invoice.over_applied": TypeInfo("staff", _ON_TICKET),
    "invoice.available": TypeInfo("client", _ON_EMAIL),
    "invoice.past_due": TypeInfo("client", _ON_EMAIL),
    "payment_method.added": TypeInfo("client", _ON_EMAIL),
    "sync.failed": TypeInfo("staff", _ON_TICKET),
    "sync.stalled": TypeInfo("staff", _ON_TICKET),
    "integration.connection_failed": TypeInfo("staff", _ON_TICKET),
    "portal.invitation": TypeInfo("invitee", _ON_EMAIL),
    "reconciliation.drift_found": TypeInfo("staff", _ON_TICKET),
    "autopay.upcoming": TypeInfo("client", _ON_EMAIL),
    "autopay.succeeded": TypeInfo("client", _ON_EMAIL),
    # a declined automatic charge: the client is told, and staff get a ticket to follow up
    "autopay.failed": TypeInfo("client", _ON_BOTH),
    # an outbound webhook subscription that failed past the retry horizon and was disabled
    "webhook.subscription_disabled": TypeInfo("staff", _ON_TICKET),
}

NOTIFICATION_TYPES: tuple[str, ...] = tuple(TYPES)


def default_switches() -> dict[str, ChannelSwitch]:
    return {name: info.default for name, info in TYPES.items()}


def merge_switches(current: dict[str, ChannelSwitch], changes: dict[str, dict[str, bool]]) -> dict[str, ChannelSwitch]:
    """Apply a partial update: types not named, and channels not named, keep their setting."""
    merged = dict(current)
    for name, change in changes.items():
        if name not in TYPES:
            raise KeyError(name)
        before = merged.get(name, TYPES[name].default)
        merged[name] = ChannelSwitch(email=change.get("email", before.email),
                                     ticket=change.get("ticket", before.ticket))
    return merged
