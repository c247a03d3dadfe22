"""transact.php money operations: sale, refund, void, validate."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from decimal import Decimal

from .methods import PaymentMethod, TokenizeError, tokenize_card, tokenize_check
from .money import is_zero_amount, parse_amount
from .replies import APPROVED, DECLINED, Reply, new_authcode, rejected
from .state import PENDING, Action, SimState, Transaction

Form = Mapping[str, str]


def payment_data(state: SimState, form: Form, *, allow_vault: bool) -> PaymentMethod | Reply | None:
    """The method a request names: token, stored vault entry or raw data."""
    if token := form.get("payment_token"):
        return state.tokens.get(token) or rejected("Invalid Payment Token")
    if allow_vault and (vault_id := form.get("customer_vault_id")):
        return state.vault.get(vault_id) or rejected("Invalid Customer Vault Id")
    try:
        # The real gateway accepts raw data too; our services never send it.
        if form.get("ccnumber"):
            return tokenize_card(form["ccnumber"], form.get("ccexp", ""), form.get("cvv"),
                                 today=datetime.now(timezone.utc).date())
        if form.get("checkaccount"):
            return tokenize_check(form.get("checkaba", ""), form["checkaccount"],
                                  form.get("checkname", ""), form.get("account_type"),
                                  form.get("account_holder_type"))
    except TokenizeError as exc:
        return rejected(f"Invalid payment data: {exc}")
    return None


def sale(state: SimState, form: Form) -> Reply:
    order_id = form.get("orderid", "")
    amount = parse_amount(form.get("amount"))
    if amount is None:
        return rejected("Invalid amount", "sale", order_id)
    adds_to_vault = form.get("customer_vault") == "add_customer"
    method = payment_data(state, form, allow_vault=not adds_to_vault)
    if method is None:
        return rejected("Payment information is required", "sale", order_id)
    if isinstance(method, Reply):
        return method
    asked = form.get("payment")
    if asked and asked != method.payment_type:
        return rejected(f"payment={asked} does not match the payment method", "sale", order_id)
    decline = method.behaviour.decline
    txn = Transaction(
        transaction_id=state.new_transaction_id(), order_id=order_id, type="sale",
        amount=amount, currency=(form.get("currency") or "USD").upper(), method=method,
        condition="failed" if decline else PENDING,
        customer_vault_id=None if adds_to_vault else form.get("customer_vault_id") or None,
    )
    code, text = decline or (100, "SUCCESS")
    txn.actions.append(Action("sale", amount, decline is None, text, code))
    state.transactions[txn.transaction_id] = txn
    vault_id = None
    if adds_to_vault and decline is None:
        vault_id = form.get("customer_vault_id") or state.new_vault_id()
        state.vault[vault_id] = method
        txn.customer_vault_id = vault_id
    return Reply(
        DECLINED if decline else APPROVED, text, code, transactionid=txn.transaction_id,
        orderid=order_id, type="sale", authcode="" if decline else new_authcode(),
        customer_vault_id=vault_id, drop=method.behaviour.drop_reply,
    )


def refund(state: SimState, form: Form) -> Reply:
    original = state.transactions.get(form.get("transactionid", ""))
    if original is None or original.type != "sale":
        return rejected("Transaction not found", "refund")
    if not original.actions[0].success or original.condition in ("canceled", "failed"):
        return rejected("Transaction cannot be refunded", "refund", original.order_id)
    if state.config.refund_requires_settlement and original.condition != "complete":
        return rejected("Refunds are only allowed after settlement", "refund", original.order_id)
    remaining = original.amount - state.refunded_amount(original)
    # NMI: "Setting the amount to 0.00 will refund the entire amount"; an omitted
    # amount is taken the same way.
    asked = form.get("amount", "")
    amount = remaining if not asked.strip() or is_zero_amount(asked) else parse_amount(asked)
    if amount is None:
        return rejected("Invalid amount", "refund", original.order_id)
    if remaining <= 0 or amount > remaining:
        return rejected("Refund amount may not exceed the transaction balance", "refund",
                        original.order_id)
    txn = Transaction(
        transaction_id=state.new_transaction_id(), order_id=original.order_id, type="refund",
        amount=amount, currency=original.currency, method=original.method, condition=PENDING,
        customer_vault_id=original.customer_vault_id,
        original_transaction_id=original.transaction_id,
    )
    txn.actions.append(Action("refund", amount, True, "SUCCESS", 100))
    state.transactions[txn.transaction_id] = txn
    return Reply(APPROVED, "SUCCESS", 100, transactionid=txn.transaction_id,
                 orderid=txn.order_id, type="refund")


def void(state: SimState, form: Form) -> Reply:
    txn = state.transactions.get(form.get("transactionid", ""))
    if txn is None or txn.type not in ("sale", "refund"):
        return rejected("Transaction not found", "void")
    if txn.condition != PENDING:
        return rejected("Only transactions pending settlement can be voided", "void", txn.order_id)
    if txn.type == "sale" and state.refunded_amount(txn) > 0:
        return rejected("Void the refunds of this transaction first", "void", txn.order_id)
    txn.condition = "canceled"
    txn.actions.append(Action("void", txn.amount, True, "Transaction Void Successful", 100))
    return Reply(APPROVED, "Transaction Void Successful", 100, transactionid=txn.transaction_id,
                 orderid=txn.order_id, type="void")


def validate(state: SimState, form: Form) -> Reply:
    """A zero-amount check of a method; with no method it only proves the key."""
    method = payment_data(state, form, allow_vault=True)
    if isinstance(method, Reply):
        return method
    if method is None:
        return Reply(APPROVED, "SUCCESS", 100, type="validate")
    decline = method.behaviour.decline
    code, text = decline or (100, "SUCCESS")
    txn = Transaction(
        transaction_id=state.new_transaction_id(), order_id=form.get("orderid", ""),
        type="validate", amount=Decimal("0.00"), currency="USD", method=method,
        condition="failed" if decline else "complete",
    )
    txn.actions.append(Action("validate", Decimal("0.00"), decline is None, text, code))
    state.transactions[txn.transaction_id] = txn
    return Reply(DECLINED if decline else APPROVED, text, code,
                 transactionid=txn.transaction_id, orderid=txn.order_id, type="validate")

