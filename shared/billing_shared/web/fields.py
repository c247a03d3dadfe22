"""Types for what request bodies carry into storage, so every model says the same rule once.

Postgres refuses NUL in text and columns have ranges: a value either fits or is a 422, never a 500.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt

from billing_shared.text import CONTROL_CHARACTERS

INT32_MAX = 2**31 - 1


def _one_line(value: str) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise ValueError("may not contain control characters (line breaks, tabs, NUL)")
    return value


# Names, ids, keys, secrets and URLs: one line of printable text.
Line = Annotated[str, AfterValidator(_one_line)]
# An id in an `integer` column that must name something: Autotask picklist values and ids are positive
# and per tenant (external-apis.md 1.3 and 1.6, Tickets), so the range is all we can check.
PositiveId = Annotated[StrictInt, Field(ge=1, le=INT32_MAX)]
# An `integer` column where 0 means something (Autotask's own company is 0).
NonNegativeInt32 = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]
