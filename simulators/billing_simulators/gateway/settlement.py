"""The nightly batch, on demand: what settling does to each pending transaction."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from .state import PENDING, Action, SimState, Transaction

SETTLED_CARD = "settlement.batch.complete"
FAILED_CARD = "settlement.batch.failure"
SETTLED_CHECK = "transaction.check.status.settle"
RETURNED_CHECK = "transaction.check.status.return"
CHARGEBACK = "chargeback.batch.complete"


@dataclass(frozen=True)
class Event:
    """A webhook to send: its type and the transaction/action it reports."""

    event_type: str
    transaction: Transaction
    action: Action


def settle_pending(state: SimState, only: Collection[str] | None = None) -> tuple[int, list[Event]]:
    """Settle every pending transaction (or those named); return count and events.

    Sales get one webhook each; refunds settle quietly, since nothing a
    receiver does depends on them.
    """
    settled, events = 0, []
    for txn in list(state.transactions.values()):
        if txn.condition != PENDING or (only is not None and txn.transaction_id not in only):
            continue
        settled += 1
        action, event_type = _settle_one(txn)
        txn.actions.append(action)
        if txn.type == "sale":
            events.append(Event(event_type, txn, action))
    return settled, events


def _settle_one(txn: Transaction) -> tuple[Action, str]:
    check = txn.method.payment_type == "check"
    outcome = txn.method.behaviour.settle if txn.type == "sale" else "settle"
    if outcome == "return" and check:
        txn.condition = "failed"
        return Action("check_return", txn.amount, True, "Returned", 100), RETURNED_CHECK
    if outcome in ("fail", "return"):
        txn.condition = "failed"
        return Action("settle", txn.amount, False, "Settlement failed", 300), FAILED_CARD
    txn.condition = "complete"
    return Action("settle", txn.amount, True, "Settled", 100), SETTLED_CHECK if check else SETTLED_CARD


def chargeback(txn: Transaction, amount: Decimal) -> Event:
    """A chargeback does not change the condition; it reaches us as a webhook."""
    return Event(CHARGEBACK, txn, Action("chargeback", amount, True, "Chargeback", 100))
