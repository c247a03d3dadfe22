"""What the simulated gateway remembers: transactions, vault, tokens, webhooks."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal

from aiohttp import web

from .config import GatewaySimConfig
from .methods import TEST_TOKENS, PaymentMethod
from .money import format_amount

# Conditions from the Query API that still allow a void or a settlement.
PENDING = "pendingsettlement"


def gateway_now() -> str:
    """The gateway's timestamp format, YYYYMMDDhhmmss in UTC."""
    return datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")


@dataclass
class Action:
    action_type: str  # sale, refund, void, settle, check_return, validate
    amount: Decimal
    success: bool
    response_text: str
    response_code: int
    date: str = field(default_factory=gateway_now)


@dataclass
class Transaction:
    transaction_id: str
    order_id: str
    type: str  # sale, refund or validate: the first action
    amount: Decimal
    currency: str
    method: PaymentMethod
    condition: str
    customer_vault_id: str | None = None
    original_transaction_id: str | None = None
    actions: list[Action] = field(default_factory=list)

    def to_json(self) -> dict[str, object]:
        return {
            "transaction_id": self.transaction_id,
            "order_id": self.order_id,
            "type": self.type,
            "amount": format_amount(self.amount),
            "currency": self.currency,
            "condition": self.condition,
            "payment_type": self.method.payment_type,
            "customer_vault_id": self.customer_vault_id,
            "original_transaction_id": self.original_transaction_id,
            "last4": self.method.last4,
        }


@dataclass
class WebhookRecord:
    event_id: str
    event_type: str
    transaction_id: str
    body: str  # the exact bytes sent, decoded, so tests can replay them
    signature: str
    status: int | None = None  # receiver's HTTP status, None when unreachable

    def to_json(self) -> dict[str, object]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "transaction_id": self.transaction_id,
            "body": self.body,
            "signature": self.signature,
            "status": self.status,
        }


class SimState:
    def __init__(self, config: GatewaySimConfig) -> None:
        self._initial = replace(config)
        self.reset()

    def reset(self) -> None:
        # A copy of the config, so PUT /_sim/config never edits the caller's
        # object and a reset returns to the settings the app started with.
        self.config = replace(self._initial)
        self.transactions: dict[str, Transaction] = {}
        self.tokens: dict[str, PaymentMethod] = dict(TEST_TOKENS)
        self.vault: dict[str, PaymentMethod] = {}
        self.webhooks: list[WebhookRecord] = []

    def new_transaction_id(self) -> str:
        # Ten random digits like the real gateway's ids, so ids do not repeat
        # after a reset while a payments database still remembers old ones.
        while True:
            candidate = str(secrets.randbelow(9_000_000_000) + 1_000_000_000)
            if candidate not in self.transactions:
                return candidate

    def new_vault_id(self) -> str:
        while True:
            candidate = str(secrets.randbelow(900_000_000) + 100_000_000)
            if candidate not in self.vault:
                return candidate

    def refunded_amount(self, sale: Transaction) -> Decimal:
        return sum(
            (t.amount for t in self.transactions.values()
             if t.original_transaction_id == sale.transaction_id
             and t.type == "refund" and t.condition != "canceled"),
            Decimal("0.00"),
        )


# Typed key under which the app keeps its state.
STATE_KEY = web.AppKey("gateway_sim_state", SimState)
