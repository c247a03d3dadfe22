"""Amounts as the gateway reads and writes them: "x.xx", never float."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")


def parse_amount(text: str | None) -> Decimal | None:
    """A positive amount with at most two decimals, or None when invalid."""
    if text is None or not text.strip():
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0 or value != value.quantize(CENT):
        return None
    return value.quantize(CENT)


def is_zero_amount(text: str | None) -> bool:
    """"0.00" (or any zero): how a refund asks for the whole settled amount."""
    try:
        return text is not None and Decimal(text.strip()) == 0
    except InvalidOperation:
        return False


def format_amount(value: Decimal) -> str:
    return str(value.quantize(CENT))
