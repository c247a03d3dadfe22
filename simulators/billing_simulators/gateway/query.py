"""POST /api/query.php: the Query API, answering NMI-shaped XML."""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree import ElementTree as ET

from aiohttp import web

from .methods import PaymentMethod
from .money import format_amount
from .payments import Form
from .replies import key_matches
from .state import STATE_KEY, SimState, Transaction


def _xml(root: ET.Element) -> web.Response:
    body = ET.tostring(root, encoding="unicode", short_empty_elements=False)
    return web.Response(text='<?xml version="1.0" encoding="UTF-8"?>\n' + body,
                        content_type="text/xml")


def _add(parent: ET.Element, tag: str, text: object = "") -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = "" if text is None else str(text)
    return child


def _method_fields(parent: ET.Element, method: PaymentMethod) -> None:
    card = method.payment_type == "creditcard"
    _add(parent, "cc_number", method.masked_number if card else "")
    _add(parent, "cc_exp", method.exp if card else "")
    _add(parent, "cc_type", method.brand if card else "")
    _add(parent, "check_account", "" if card else method.masked_number)
    _add(parent, "check_aba", "" if card else method.check_aba)
    _add(parent, "check_name", "" if card else method.check_name)
    _add(parent, "account_holder_type", "" if card else method.account_holder_type)
    _add(parent, "account_type", "" if card else method.account_type)


def _transaction(parent: ET.Element, txn: Transaction) -> None:
    node = ET.SubElement(parent, "transaction")
    _add(node, "transaction_id", txn.transaction_id)
    _add(node, "original_transaction_id", txn.original_transaction_id)
    _add(node, "order_id", txn.order_id)
    _add(node, "transaction_type", txn.method.transaction_type)
    _add(node, "condition", txn.condition)
    _add(node, "currency", txn.currency)
    _add(node, "customer_vault_id", txn.customer_vault_id)
    _method_fields(node, txn.method)
    for action in txn.actions:
        item = ET.SubElement(node, "action")
        _add(item, "amount", format_amount(action.amount))
        _add(item, "action_type", action.action_type)
        _add(item, "date", action.date)
        _add(item, "success", "1" if action.success else "0")
        _add(item, "response_text", action.response_text)
        _add(item, "response_code", action.response_code)


def _listed(value: str | None) -> set[str] | None:
    """NMI filters take comma-separated lists; None means no filter."""
    return {part for part in value.split(",") if part} if value else None


def matching(transactions: Iterable[Transaction], form: Form) -> list[Transaction]:
    ids, conditions = _listed(form.get("transaction_id")), _listed(form.get("condition"))
    types, actions = _listed(form.get("transaction_type")), _listed(form.get("action_type"))
    order_id = form.get("order_id")
    # start_date/end_date (YYYYMMDDhhmmss, inclusive) select transactions with an action in the range
    start, end = form.get("start_date") or "", form.get("end_date") or "99999999999999"
    return [
        txn for txn in transactions
        if (not form.get("start_date") and not form.get("end_date")
            or any(start <= a.date <= end for a in txn.actions))
        and (ids is None or txn.transaction_id in ids)
        and (conditions is None or txn.condition in conditions)
        and (types is None or txn.method.transaction_type in types)
        and (actions is None or any(a.action_type in actions for a in txn.actions))
        and (order_id is None or txn.order_id == order_id)
    ]


def customer_vault(state: SimState, form: Form) -> ET.Element:
    root = ET.Element("nm_response")
    wanted = form.get("customer_vault_id")
    entries = ET.SubElement(root, "customer_vault")
    for vault_id, method in state.vault.items():
        if wanted and vault_id != wanted:
            continue
        customer = ET.SubElement(entries, "customer", id=vault_id)
        _add(customer, "customer_vault_id", vault_id)
        _method_fields(customer, method)
    if not len(entries):
        root.remove(entries)
    return root


async def handle_query(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    form = {key: str(value) for key, value in (await request.post()).items()}
    if not key_matches(form, state.config.security_key):
        root = ET.Element("nm_response")
        _add(root, "error_response", "Authentication Failed")
        return _xml(root)
    if form.get("report_type") == "customer_vault":
        return _xml(customer_vault(state, form))
    if form.get("report_type"):
        return _xml(ET.Element("nm_response"))  # other reports are not simulated
    root = ET.Element("nm_response")
    for txn in matching(state.transactions.values(), form):
        _transaction(root, txn)
    return _xml(root)
