"""The `/_sim/` control surface (CONTRACT.md "Simulator control"): demo and tests only.

Besides looking at the books, a test or the demo can change them as a bookkeeper would (reconciliation's
drift classes are injected this way):
- `POST /_sim/invoices/{id}/pay-elsewhere` `{"amount"?}`: a cheque recorded against the invoice (its
  balance by default);
- `POST /_sim/payments/{id}/delete`: the payment deleted in the books (its invoices get their balance back;
  reads answer "Object Not Found", as for a payment deleted in QuickBooks);
- `POST /_sim/payments/{id}/amount` `{"amount", "lines"?: {invoice Id: amount}}`: the payment edited: its
  total becomes `amount`; without `lines`, its lines keep their amounts as far as the new total goes (in
  order). Refused (the simulator's fault answer) when QuickBooks would refuse it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from . import postings
from .config import AccountingSimConfig
from .state import SIM_STATE
from .wire import QboError, fault_response, to_wire

COLLECTIONS = {
    "invoices": "Invoice",
    "payments": "Payment",
    "refund-receipts": "RefundReceipt",
    "journal-entries": "JournalEntry",
    "customers": "Customer",
    "items": "Item",
    "accounts": "Account",
}


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.json_response(to_wire(payload), status=status)


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def list_collection(request: web.Request) -> web.Response:
    entity = COLLECTIONS[request.match_info["collection"]]
    return _json(request.app[SIM_STATE].books.all(entity))


async def show_object(request: web.Request) -> web.Response:
    entity = COLLECTIONS[request.match_info["collection"]]
    found = request.app[SIM_STATE].books.find(entity, request.match_info["id"])
    return _json(found) if found else _error(f"{entity} {request.match_info['id']} not found", 404)


async def account_register(request: web.Request) -> web.Response:
    """The account's movements (invoices, payments, refund receipts, journal entries) and balance."""
    books = request.app[SIM_STATE].books
    if books.find("Account", request.match_info["id"]) is None:
        return _error(f"Account {request.match_info['id']} not found", 404)
    return _json(postings.account_register(books, request.match_info["id"]))


async def customer_receivable(request: web.Request) -> web.Response:
    """The customer's Accounts Receivable balance (negative: a credit owed back to the customer)."""
    books = request.app[SIM_STATE].books
    if books.find("Customer", request.match_info["id"]) is None:
        return _error(f"Customer {request.match_info['id']} not found", 404)
    return _json(postings.customer_receivable(books, request.match_info["id"]))


async def pay_elsewhere(request: web.Request) -> web.Response:
    """A payment recorded in the books by other means (a cheque), applied to one invoice."""
    state = request.app[SIM_STATE]
    invoice = state.books.find("Invoice", request.match_info["id"])
    if invoice is None:
        return _error(f"Invoice {request.match_info['id']} not found", 404)
    body = await request.json() if request.can_read_body else {}
    try:
        amount = Decimal(str(body["amount"])) if body.get("amount") is not None else invoice["Balance"]
    except InvalidOperation:
        return _error(f"amount is not a decimal: {body.get('amount')!r}")
    state.elsewhere_payments += 1
    payment = {
        "CustomerRef": invoice["CustomerRef"],
        "TotalAmt": amount,
        "PaymentRefNum": f"CHECK-{state.elsewhere_payments:04d}",
        "PrivateNote": "Recorded in the books by other means (simulator)",
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
    }
    try:
        created = state.books.create("Payment", payment)
    except QboError as error:
        return fault_response(error)
    return _json(created, status=201)


async def delete_payment(request: web.Request) -> web.Response:
    """A bookkeeper deleted the payment."""
    books = request.app[SIM_STATE].books
    payment = books.find("Payment", request.match_info["id"])
    if payment is None:
        return _error(f"Payment {request.match_info['id']} not found", 404)
    try:
        return _json(books.delete("Payment", {"Id": payment["Id"], "SyncToken": payment["SyncToken"]}))
    except QboError as error:
        return fault_response(error)


async def change_payment_amount(request: web.Request) -> web.Response:
    """A bookkeeper edited the payment's amount (and perhaps what it pays per invoice)."""
    books = request.app[SIM_STATE].books
    payment = books.find("Payment", request.match_info["id"])
    if payment is None:
        return _error(f"Payment {request.match_info['id']} not found", 404)
    body = await request.json() if request.can_read_body else {}
    try:
        amount = Decimal(str(body["amount"]))
        given = {str(k): Decimal(str(v)) for k, v in (body.get("lines") or {}).items()}
    except (KeyError, InvalidOperation, TypeError, AttributeError):
        return _error('the body must be {"amount": decimal, "lines"?: {invoice Id: decimal}}')
    lines, left = [], amount
    for line in payment.get("Line") or []:
        invoice_id = line["LinkedTxn"][0]["TxnId"]
        share = given.get(invoice_id, min(Decimal(str(line["Amount"])), max(left, Decimal("0"))))
        left -= share
        lines.append({"Amount": share, "LinkedTxn": line["LinkedTxn"]})
    try:
        changed = books.update("Payment", {"Id": payment["Id"], "SyncToken": payment["SyncToken"], "sparse": True,
                                           "TotalAmt": amount, "Line": lines})
    except QboError as error:
        return fault_response(error)
    return _json(changed)


async def add_fault(request: web.Request) -> web.Response:
    rule = request.app[SIM_STATE].faults.add(await request.json())
    return _json(vars(rule), status=201)


async def list_faults(request: web.Request) -> web.Response:
    return _json(request.app[SIM_STATE].faults.pending())


async def clear_faults(request: web.Request) -> web.Response:
    request.app[SIM_STATE].faults.reset()
    return web.json_response({"ok": True})


async def show_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[SIM_STATE].config.public_view())


async def change_config(request: web.Request) -> web.Response:
    config = request.app[SIM_STATE].config
    body = await request.json()
    unknown = sorted(set(body) - set(AccountingSimConfig.RUNTIME_FIELDS))
    if unknown:
        return _error(f"these fields cannot be changed at runtime: {', '.join(unknown)}")
    for name, value in body.items():
        setattr(config, name, AccountingSimConfig.coerce(name, value))
    return web.json_response(config.public_view())


async def show_requests(request: web.Request) -> web.Response:
    state = request.app[SIM_STATE]
    snapshot = state.requests.snapshot()
    snapshot["faults_injected"] = state.faults.injected
    snapshot["token_refreshes"] = state.tokens.refreshes
    return web.json_response(snapshot)


async def clear_requests(request: web.Request) -> web.Response:
    request.app[SIM_STATE].requests.reset()
    return web.json_response({"ok": True})


async def reset(request: web.Request) -> web.Response:
    request.app[SIM_STATE].reset()
    return web.json_response({"ok": True})


async def expire_access_tokens(request: web.Request) -> web.Response:
    expired = request.app[SIM_STATE].tokens.expire_access_tokens()
    return web.json_response({"expired": expired})


async def revoke_tokens(request: web.Request) -> web.Response:
    request.app[SIM_STATE].tokens.revoke_all()
    return web.json_response({"ok": True})


async def authorize(request: web.Request) -> web.Response:
    return web.json_response({"refresh_token": request.app[SIM_STATE].tokens.authorize()})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/health", health)
    router.add_post("/_sim/faults", add_fault)
    router.add_get("/_sim/faults", list_faults)
    router.add_delete("/_sim/faults", clear_faults)
    router.add_get("/_sim/config", show_config)
    router.add_put("/_sim/config", change_config)
    router.add_get("/_sim/requests", show_requests)
    router.add_delete("/_sim/requests", clear_requests)
    router.add_post("/_sim/reset", reset)
    router.add_post("/_sim/oauth/expire-access-tokens", expire_access_tokens)
    router.add_post("/_sim/oauth/revoke", revoke_tokens)
    router.add_post("/_sim/oauth/authorize", authorize)
    collection = "{collection:" + "|".join(COLLECTIONS) + "}"
    router.add_get(f"/_sim/{collection}", list_collection)
    router.add_get(f"/_sim/{collection}/{{id}}", show_object)
    router.add_post("/_sim/invoices/{id}/pay-elsewhere", pay_elsewhere)
    router.add_post("/_sim/payments/{id}/delete", delete_payment)
    router.add_post("/_sim/payments/{id}/amount", change_payment_amount)
    router.add_get("/_sim/accounts/{id}/register", account_register)
    router.add_get("/_sim/customers/{id}/receivable", customer_receivable)
