"""What the payments routes share: where the use cases' dependencies live, and error translation."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from billing_shared.web.auth import Principal
from billing_shared.web.deps import deps_of
from billing_shared.web.errors import ApiError, forbidden

from billing_payments.domain.cards import contains_raw_card_data

from billing_payments.domain.errors import PaymentError
from billing_payments.service.deps import Deps


def deps(request: web.Request) -> Deps:
    return deps_of(request)


@web.middleware
async def payment_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """A refused request speaks the contract's error body, with the code's own status."""
    try:
        return await handler(request)
    except PaymentError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.details) from None


def refuse_raw_card_data(body: Any) -> None:
    if contains_raw_card_data(body):
        raise PaymentError("raw_card_data_rejected", "card and account numbers are never accepted: send a gateway "
                           "token or a stored method id")


def acting_contact(who: Principal, requested: str | None) -> str | None:
    """A client acts as its own contact; staff name one (a payment checks that it is an active contact of
    the invoice's organization; a wallet entry may have none)."""
    if who.role != "client":
        return requested
    if requested not in (None, who.contact_id):
        raise forbidden("a client acts as its own contact")
    return who.contact_id
