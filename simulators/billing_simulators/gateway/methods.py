"""Payment methods the simulator can charge: test tokens and tokenized data.

A method never keeps a full card or account number: only what the real
gateway would show back (masked number, last four, expiry, brand).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date
from typing import Literal

PaymentType = Literal["creditcard", "check"]
# What happens to an approved transaction when the simulator settles.
SettleOutcome = Literal["settle", "fail", "return"]


class TokenizeError(ValueError):
    """Card or account data the browser script would refuse."""


@dataclass(frozen=True)
class Behaviour:
    decline: tuple[int, str] | None = None  # (response_code, responsetext)
    drop_reply: bool = False  # the sale is recorded, the reply never comes
    settle: SettleOutcome = "settle"


APPROVE = Behaviour()


@dataclass(frozen=True)
class PaymentMethod:
    payment_type: PaymentType
    last4: str
    masked_number: str
    brand: str | None = None  # cards only
    exp: str | None = None  # MMYY, cards only
    check_aba: str | None = None
    check_name: str | None = None
    account_type: str = "checking"
    account_holder_type: str = "personal"
    behaviour: Behaviour = APPROVE

    @property
    def transaction_type(self) -> str:
        """The query/webhook code: cc for cards, ck for checks."""
        return "cc" if self.payment_type == "creditcard" else "ck"

    def describe(self, token: str) -> dict[str, object]:
        """The /_sim/tokens answer: what Collect.js hands the page."""
        return {
            "token": token,
            "brand": self.brand,
            "last4": self.last4,
            "exp": f"{self.exp[:2]}/{self.exp[2:]}" if self.exp else None,
            "type": "credit_card" if self.payment_type == "creditcard" else "echeck",
        }


def _card(number: str, exp: str, behaviour: Behaviour = APPROVE) -> PaymentMethod:
    return PaymentMethod(
        payment_type="creditcard",
        last4=number[-4:],
        masked_number=mask_card(number),
        brand=card_brand(number),
        exp=exp,
        behaviour=behaviour,
    )


def _check(account: str, behaviour: Behaviour = APPROVE) -> PaymentMethod:
    return PaymentMethod(
        payment_type="check",
        last4=account[-4:],
        masked_number=mask_account(account),
        check_aba="123123123",
        check_name="Test Account",
        behaviour=behaviour,
    )


def new_token() -> str:
    return f"tok_{secrets.token_hex(12)}"


def tokenize_card(ccnumber: str, ccexp: str, cvv: str | None, today: date) -> PaymentMethod:
    number = "".join(ch for ch in ccnumber if ch not in " -")
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
        raise TokenizeError("card number is not valid")
    exp = ccexp.replace("/", "")
    if len(exp) != 4 or not exp.isdigit() or not 1 <= int(exp[:2]) <= 12:
        raise TokenizeError("expiry must be MMYY")
    if (2000 + int(exp[2:]), int(exp[:2])) < (today.year, today.month):
        raise TokenizeError("card has expired")
    if cvv is not None and (not cvv.isdigit() or len(cvv) not in (3, 4)):
        raise TokenizeError("cvv must be 3 or 4 digits")
    decline = DECLINING_CARDS.get(number)
    return _card(number, exp, Behaviour(decline=decline) if decline else APPROVE)


def tokenize_check(aba: str, account: str, name: str, account_type: str | None,
                   holder_type: str | None) -> PaymentMethod:
    if len(aba) != 9 or not aba.isdigit() or not aba_valid(aba):
        raise TokenizeError("routing number is not valid")
    if not account.isdigit() or not 4 <= len(account) <= 17:
        raise TokenizeError("account number must be 4 to 17 digits")
    if not name.strip():
        raise TokenizeError("account holder name is required")
    return PaymentMethod(
        payment_type="check",
        last4=account[-4:],
        masked_number=mask_account(account),
        check_aba=aba,
        check_name=name.strip(),
        account_type=account_type or "checking",
        account_holder_type=holder_type or "personal",
    )


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def aba_valid(aba: str) -> bool:
    """The ABA routing checksum: 3-7-1 weights, a multiple of 10."""
    weights = (3, 7, 1) * 3
    return sum(int(d) * w for d, w in zip(aba, weights)) % 10 == 0


def card_brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"34", "37"}:
        return "amex"
    if 51 <= int(number[:2]) <= 55 or 2221 <= int(number[:4]) <= 2720:
        return "mastercard"
    if number.startswith(("6011", "65")) or 644 <= int(number[:3]) <= 649:
        return "discover"
    return "unknown"


def mask_card(number: str) -> str:
    """NMI's query style: first digit, x's, last four (4xxxxxxxxxxx1111)."""
    return number[0] + "x" * (len(number) - 5) + number[-4:]


def mask_account(account: str) -> str:
    return "x" * max(len(account) - 4, 0) + account[-4:]


# Card numbers with a fixed outcome (the usual test-card conventions); any
# other Luhn-valid number approves.
DECLINING_CARDS: dict[str, tuple[int, str]] = {
    "4000000000000002": (200, "DECLINE"),
    "4000000000009995": (202, "Insufficient funds"),
    "4000000000000069": (223, "Expired card"),
}

# Named tokens from CONTRACT.md: reusable, never expire, survive /_sim/reset.
TEST_TOKENS: dict[str, PaymentMethod] = {
    "tok_visa_approved": _card("4111111111111111", "1229"),
    "tok_visa_declined": _card("4000000000000002", "1229",
                               Behaviour(decline=DECLINING_CARDS["4000000000000002"])),
    "tok_visa_timeout": _card("4111111111111111", "1229", Behaviour(drop_reply=True)),
    "tok_visa_unsettled": _card("4111111111111111", "1229", Behaviour(settle="fail")),
    "tok_echeck_approved": _check("123123123"),
    "tok_echeck_return": _check("987654321", Behaviour(settle="return")),
}
