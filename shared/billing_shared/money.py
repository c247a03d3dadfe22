"""Money: `Decimal` with two places, never float; decimal strings on the wire ("125.00").

The one rule for every amount we take in (HTTP bodies and topics alike): plain decimal notation (no
exponent, no NaN or infinity), at most two places, less than 10^12 in size (what `numeric(14, 2)`
holds). Anything else is a `ValueError`, so pydantic reports it as a validation error: a 422 over
HTTP, the dead-letter topic on a topic. `decimal`'s own errors (`InvalidOperation` is not a
`ValueError`) never escape from here.
"""
from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, DecimalException
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, PlainSerializer

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MONEY_LIMIT = Decimal(10) ** 12  # numeric(14, 2): twelve digits before the point
QUANTITY_PLACES = 10

Currency = Literal["USD", "CAD", "AUD", "NZD", "EUR", "GBP"]
CURRENCIES: tuple[str, ...] = ("USD", "CAD", "AUD", "NZD", "EUR", "GBP")

# Digits, an optional point and digits, an optional minus; spaces around are forgiven.
_PLAIN = re.compile(r"\s*-?(?:\d+(?:\.\d*)?|\.\d+)\s*")
MONEY_RULE = "must be a decimal with at most two places"


def _plain_decimal(value: object, what: str) -> Decimal:
    """A str, int or Decimal as a finite Decimal; floats, exponents, NaN and junk are a ValueError."""
    kind = type(value)
    if kind is str:
        if len(value) > 64 or not _PLAIN.fullmatch(value):  # type: ignore[arg-type]
            raise ValueError("must be a plain decimal such as \"125.00\" (no exponent)")
        number = Decimal(value)  # type: ignore[arg-type]
    elif kind is int:
        number = Decimal(value)  # type: ignore[arg-type]
    elif kind is Decimal:
        number = value  # type: ignore[assignment]
    elif kind in (float, bool):
        raise ValueError(f"must be a decimal string such as \"125.00\", not a {kind.__name__}")
    else:
        raise ValueError("must be a decimal string such as \"125.00\"")
    if not number.is_finite():
        raise ValueError(f"must be a finite {what}")
    return number


def parse_money(value: object) -> Decimal:
    """Accept "12.30", 12 or Decimal; refuse floats, exponents, more than 2 places, 10^12 and more."""
    number = _plain_decimal(value, "money")
    if abs(number) >= MONEY_LIMIT:
        raise ValueError("must be less than 1,000,000,000,000")
    try:
        cents = number.quantize(CENT)
    except DecimalException:  # cannot happen under the limit; kept so no decimal error escapes
        raise ValueError(MONEY_RULE) from None
    if cents != number:
        raise ValueError(MONEY_RULE)
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


# What every amount on a topic is except an upstream invoice's lines (a credit line may be negative): the
# ledger's rules keep sales, applications, refunds and invoice totals at zero or more.
NonNegativeMoney = Annotated[Money, Field(ge=0)]


def parse_decimal(value: object) -> Decimal:
    """A quantity: a plain decimal (no exponent) under 10^12 with at most ten places."""
    number = _plain_decimal(value.strip() if isinstance(value, str) else value, "quantity")
    if abs(number) >= MONEY_LIMIT:
        raise ValueError("must be less than 1,000,000,000,000")
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -QUANTITY_PLACES:
        raise ValueError(f"must have at most {QUANTITY_PLACES} decimal places")
    return number


Quantity = Annotated[
    Decimal,
    BeforeValidator(parse_decimal),
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),  # never an exponent
]
