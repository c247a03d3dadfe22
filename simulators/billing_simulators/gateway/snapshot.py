"""The gateway simulator's state as a snapshot (see ../persistence.py): transactions with their
actions, tokenized methods, the customer vault and the webhooks sent. The settings are not kept:
they come from the command line and environment at every start."""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from .methods import Behaviour, PaymentMethod
from .state import Action, SimState, Transaction, WebhookRecord


def dump(state: SimState) -> dict[str, Any]:
    return {
        "transactions": [asdict(t) for t in state.transactions.values()],
        "tokens": {token: asdict(method) for token, method in state.tokens.items()},
        "vault": {vault_id: asdict(method) for vault_id, method in state.vault.items()},
        "webhooks": [asdict(w) for w in state.webhooks],
    }


def _known(cls: type, values: dict[str, Any]) -> dict[str, Any]:
    """The values of `cls`'s fields (a snapshot of an older or newer shape still loads)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in values.items() if k in names}


def _method(values: dict[str, Any]) -> PaymentMethod:
    behaviour = dict(values.get("behaviour") or {})
    if behaviour.get("decline") is not None:
        behaviour["decline"] = tuple(behaviour["decline"])
    return PaymentMethod(**{**_known(PaymentMethod, values), "behaviour": Behaviour(**_known(Behaviour, behaviour))})


def _transaction(values: dict[str, Any]) -> Transaction:
    return Transaction(**{**_known(Transaction, values), "method": _method(values["method"]),
                          "actions": [Action(**_known(Action, a)) for a in values.get("actions", [])]})


def load(state: SimState, stored: dict[str, Any]) -> None:
    state.transactions = {t["transaction_id"]: _transaction(t) for t in stored["transactions"]}
    state.tokens.update({token: _method(m) for token, m in stored["tokens"].items()})
    state.vault = {vault_id: _method(m) for vault_id, m in stored["vault"].items()}
    state.webhooks = [WebhookRecord(**_known(WebhookRecord, w)) for w in stored["webhooks"]]
