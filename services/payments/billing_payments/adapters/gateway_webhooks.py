"""Gateway webhooks: check the signature on the raw body, then read the envelope.

Header ``Webhook-Signature: t=<nonce>,s=<hex HMAC-SHA256(key, nonce + "." + body)>``
(external-apis.md 3.6; ``t`` is a nonce, not a timestamp). The caller verifies
before parsing, and keeps the nonce to refuse a replayed delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from billing_shared.text import holds_nul

# Events that change money (CONTRACT.md "Gateway webhooks"); others are recorded only.
CHECK_RETURN = "transaction.check.status.return"
CHECK_LATE_RETURN = "transaction.check.status.latereturn"
SETTLEMENT_FAILURE = "settlement.batch.failure"
SALE_UNKNOWN = "transaction.sale.unknown"
CHARGEBACK = "chargeback.batch.complete"
MONEY_EVENTS = frozenset({CHECK_RETURN, CHECK_LATE_RETURN, SETTLEMENT_FAILURE, SALE_UNKNOWN,
                          CHARGEBACK})
# News of a sale's outcome, which resolves a payment left pending.
SALE_SUCCESS, SALE_FAILURE = "transaction.sale.success", "transaction.sale.failure"
# The types whose body is read as a money event; every other type is recorded and ignored.
ACTED_ON = MONEY_EVENTS | {SALE_SUCCESS, SALE_FAILURE}

# Strict: exactly "t=<nonce>,s=<64 hex>", nothing before, between or after.
_HEADER = re.compile(r"t=([^,\s]+),s=([0-9a-fA-F]{64})")


class InvalidSignature(Exception):
    """Missing, malformed or wrong signature: answer 401 invalid_signature."""


def verify_signature(raw_body: bytes, header: str | None, signing_key: str) -> str:
    """Return the delivery's nonce when the signature matches, else raise."""
    if not signing_key:
        raise InvalidSignature("no webhook signing key is configured")
    match = _HEADER.fullmatch(header or "")
    if match is None:
        raise InvalidSignature("malformed or missing Webhook-Signature header")
    nonce, given = match.groups()
    expected = hmac.new(signing_key.encode(), nonce.encode() + b"." + raw_body,
                        hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given.lower()):
        raise InvalidSignature("signature does not match the body")
    return nonce


def _blank_is_none(value: Any) -> Any:
    """The gateway sends "" for an absent value."""
    return None if value == "" else value


def _money(value: Any) -> Any:
    """Amounts are strings on the wire; should a JSON number come, keep its digits."""
    return str(value) if isinstance(value, float) else _blank_is_none(value)


# The gateway's wire habits, said once: "" for an absent value, amounts as text.
Blankable = Annotated[str | None, BeforeValidator(_blank_is_none)]
Flag = Annotated[bool | None, BeforeValidator(_blank_is_none)]  # "1" / "0" on the wire
Amount = Annotated[Decimal | None, BeforeValidator(_money)]


class GatewayAction(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    action_type: str
    amount: Amount = None
    date: str | None = None
    success: Flag = None
    response_text: str | None = None
    response_code: str | None = None


class GatewayEventBody(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    transaction_id: str
    order_id: Blankable = None  # our payment id
    transaction_type: str | None = None  # "cc" or "ck"
    condition: str | None = None
    requested_amount: Amount = None
    currency: str | None = None
    action: GatewayAction | None = None


class GatewayWebhook(BaseModel):
    """The NMI envelope; unknown fields (merchant, card, check, ...) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str
    event_type: str
    event_body: GatewayEventBody

    @property
    def changes_money(self) -> bool:
        return self.event_type in MONEY_EVENTS


class WebhookEnvelope(BaseModel):
    """Just enough to record any event and see its type; the body is read only for money events."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str | None = None  # required of money events only (GatewayWebhook)
    event_type: str
    event_body: dict[str, Any] = {}

    @property
    def acted_on(self) -> bool:
        return self.event_type in ACTED_ON

    def record_id(self, nonce: str) -> str:
        """What a delivery is recorded under: its event id, or (an event that has none) its nonce."""
        return self.event_id or f"nonce:{nonce}"


class MalformedWebhook(Exception):
    """A body we cannot read: `fields` names each bad field, `problems` says what is wrong, in our words."""

    def __init__(self, message: str, problems: dict[str, str]) -> None:
        super().__init__(message)
        self.message, self.problems = message, problems

    @property
    def fields(self) -> list[str]:
        return list(self.problems)


def parse_envelope(raw_body: bytes) -> WebhookEnvelope:
    """Read the envelope of a body that verify_signature has already accepted. What is recorded of it
    (the envelope, its body) may hold no NUL character: Postgres stores none in text or jsonb."""
    envelope: WebhookEnvelope = _validated(WebhookEnvelope, raw_body, "not a gateway webhook")
    if holds_nul(envelope.model_dump()):
        raise MalformedWebhook("text may not contain the NUL character (\\u0000)", {"body": "holds a NUL character"})
    return envelope


def parse_webhook(raw_body: bytes) -> GatewayWebhook:
    """Read a money event in full (its envelope already read)."""
    return _validated(GatewayWebhook, raw_body, "a gateway money event with bad fields")


def _validated(model: type[BaseModel], raw_body: bytes, what: str) -> Any:
    try:
        return model.model_validate_json(raw_body)
    except ValidationError as exc:
        problems = {}
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            name = ".".join(str(part) for part in error["loc"]) or "body"
            problems[name] = _PROBLEMS.get(error["type"], "has the wrong type or format")
        if "body" in problems or any(e["type"] == "json_invalid" for e in exc.errors(include_url=False)):
            raise MalformedWebhook("the body is not a JSON object", {"body": "is not a JSON object"}) from None
        raise MalformedWebhook(f"{what}: {', '.join(problems)}", problems) from None


_PROBLEMS = {"missing": "is required", "string_type": "must be text", "dict_type": "must be an object",
             "model_type": "must be an object", "decimal_parsing": "must be an amount like 54.04",
             "bool_parsing": "must be 1 or 0", "decimal_type": "must be an amount like 54.04"}
