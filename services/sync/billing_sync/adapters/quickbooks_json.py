"""JSON for QuickBooks with money kept as Decimal both ways.

QuickBooks writes amounts as JSON numbers (`500.0`); reading them with
`parse_float=Decimal` keeps them exact. Writing, every Decimal becomes a JSON
number with at least two places (`500.00`; a quantity `0.125` keeps its digits).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

CENT = Decimal("0.01")


def loads(text: str | bytes) -> Any:
    return json.loads(text, parse_float=Decimal)


def dumps(value: Any) -> str:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        exponent = value.as_tuple().exponent
        shown = value.quantize(CENT) if isinstance(exponent, int) and exponent > -2 else value
        return format(shown, "f")
    if isinstance(value, dict):
        items = (f"{json.dumps(str(key))}: {dumps(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(dumps(item) for item in value) + "]"
    return json.dumps(value)
