"""Amounts inside the simulator: Decimal, two places."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from .wire import invalid, required

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def to_money(value: object, element: str, *, allow_negative: bool = False) -> Decimal:
    if value is None:
        raise required(element)
    if isinstance(value, bool):
        raise invalid(f"{element} must be a number", element)
    try:
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError):
        raise invalid(f"{element} must be a number, got {value!r}", element) from None
    if not amount.is_finite() or (amount < 0 and not allow_negative):
        raise invalid(f"{element} must not be negative, got {amount}", element)
    return amount


def to_quantity(value: object, element: str) -> Decimal:
    try:
        quantity = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise invalid(f"{element} must be a number, got {value!r}", element) from None
    if not quantity.is_finite():
        raise invalid(f"{element} must be a number, got {value!r}", element)
    return quantity
