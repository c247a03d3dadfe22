"""What the payments routes share: where the use cases' dependencies live, and error translation."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from billing_shared.web.errors import ApiError

from billing_payments.domain.errors import PaymentError
from billing_payments.service.deps import Deps

class DepsSlot:
    """Filled when the runtime has started (the app is frozen by then, so the key holds a slot)."""

    deps: Deps


DEPS = web.AppKey("deps", DepsSlot)


def deps(request: web.Request) -> Deps:
    return request.app[DEPS].deps


@web.middleware
async def payment_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """A refused request speaks the contract's error body, with the code's own status."""
    try:
        return await handler(request)
    except PaymentError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.details) from None
