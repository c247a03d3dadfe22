"""Card and account numbers never reach our servers: find them anywhere in a request body."""
from __future__ import annotations

import re
from typing import Any

# Field names that only ever hold raw card or bank data (the gateway's and the common ones).
_RAW_FIELDS = re.compile(
    r"^(cc_?number|card_?number|cardnumber|pan|cvv2?|cvc|ccexp|card_?exp\w*|check_?account|checkaba|"
    r"account_?number|routing_?number|iban|bank_?account\w*)$", re.I,
)
_DIGITS = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
# Our own ids (stored methods, payments) are uuid4s: about one in 400 has all-digit groups that read,
# across the hyphens, as a Luhn-valid number. A UUID is never card data; it is taken out before the scan.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def looks_like_card_number(text: str) -> bool:
    for match in _DIGITS.finditer(_UUID.sub(" ", text)):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            return True
    return False


def contains_raw_card_data(value: Any, key: str = "") -> bool:
    """True when a field is named like raw card or bank data, or any value is a Luhn-valid number."""
    if key and _RAW_FIELDS.match(key):
        return True
    if isinstance(value, dict):
        return any(contains_raw_card_data(v, str(k)) for k, v in value.items())
    if isinstance(value, list):
        return any(contains_raw_card_data(v) for v in value)
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        return looks_like_card_number(str(value))
    return False
