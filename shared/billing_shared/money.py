"""Money: `Decimal` with two places, never float; decimal strings on the wire ("125.00")."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import BeforeValidator, PlainSerializer

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

Currency = Literal["USD", "CAD", "AUD", "NZD", "EUR", "GBP"]
CURRENCIES: tuple[str, ...] = ("USD", "CAD", "AUD", "NZD", "EUR", "GBP")


def parse_money(value: object) -> Decimal:
    """Accept "12.30", 12 or Decimal; refuse floats (binary fractions) and more than 2 places."""
    kind = type(value)
    if kind is str:
        try:
            number = Decimal(value)  # type: ignore[arg-type]  # Decimal ignores surrounding spaces
        except InvalidOperation:
            raise ValueError(f"not a decimal amount: {value!r}") from None
    elif kind is Decimal:
        number = value  # type: ignore[assignment]
    elif kind is int:
        number = Decimal(value)  # type: ignore[arg-type]
    elif kind in (float, bool):
        raise ValueError("money must be a decimal string such as \"125.00\", not a float")
    else:
        raise ValueError("money must be a decimal string")
    if not number.is_finite():
        raise ValueError("money must be a finite amount")
    cents = number.quantize(CENT)
    if cents != number:
        raise ValueError("money has at most 2 decimal places")
    return cents


def format_money(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def money(value: str | int | Decimal) -> Decimal:
    return parse_money(value)


Money = Annotated[
    Decimal,
    BeforeValidator(parse_money),
    PlainSerializer(format_money, return_type=str, when_used="json"),
]


def parse_decimal(value: object) -> Decimal:
    """A quantity: any finite decimal, given as a string or an int."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("quantities are decimal strings, not floats")
    try:
        number = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None
    if not number.is_finite():
        raise ValueError("must be finite")
    return number


Quantity = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    PlainSerializer(lambda d: str(d), return_type=str, when_used="json"),
]
