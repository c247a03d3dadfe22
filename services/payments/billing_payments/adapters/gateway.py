"""Client of the NMI Direct Post and Query APIs, as BNG serves them.

Real BNG: base URL ``https://secure.bngpaymentgateway.com``; the simulator:
``http://localhost:9103``. Both speak ``/api/transact.php`` (form in, URL-encoded
name=value reply out) and ``/api/query.php`` (form in, XML out).

Card details: transact.php never returns brand, last four or expiry, so
``add_to_vault`` adds the entry and then reads it back with query.php
``report_type=customer_vault`` (masked ``cc_number``, ``cc_exp``, ``cc_type`` or
``check_account``); ``get_transaction`` does the same for a single sale. The
same calls work on the simulator and on the real gateway.

Failures, and what the caller may conclude:
- ``GatewayUnavailable``: nothing was sent, or it is known nothing happened
  (connect failed, HTTP 503 or 4xx, reads that kept failing). Report 503.
- ``GatewayOutcomeUnknown``: the request left but no usable reply came back
  (timeout, connection lost, another 5xx). For a sale this means "maybe
  charged": resolve with ``find_by_order_id``, never by charging again.
- ``GatewayRejected``: a non-money call (vault, query) was refused.
Only reads, vault deletes and the key check are retried; a sale, refund or
void is sent exactly once. The security key is never logged nor put in a
message.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal
from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET

import aiohttp
import structlog

log = structlog.get_logger(__name__)

Outcome = Literal["approved", "declined", "error"]
MethodType = Literal["credit_card", "echeck"]
PAYMENT_FIELD: dict[str, str] = {"credit_card": "creditcard", "echeck": "check"}
OUTCOMES: dict[str, Outcome] = {"1": "approved", "2": "declined", "3": "error"}
CENT = Decimal("0.01")

# external-apis.md 3.2, worded for a payer or a staff member.
REASONS: dict[int, str] = {
    200: "declined by the card issuer", 201: "do not honor", 202: "insufficient funds",
    203: "over the credit limit", 204: "transaction not allowed",
    220: "incorrect payment information", 221: "no such card issuer",
    222: "no card number on file with the issuer", 223: "expired card",
    224: "invalid expiration date", 225: "invalid card security code",
    240: "call the card issuer", 250: "pick up card", 251: "card reported lost",
    252: "card reported stolen", 253: "fraudulent card",
    261: "declined: stop all recurring payments", 262: "declined: stop this recurring program",
    263: "declined: update cardholder data", 264: "declined: retry in a few days",
    400: "processor error", 410: "invalid merchant configuration", 411: "merchant account inactive",
    420: "communication error with the processor", 421: "communication error with the issuer",
    430: "duplicate transaction at the processor", 440: "processor format error",
    441: "invalid transaction information", 460: "processor feature not available",
    461: "unsupported card type",
}
_REFID = re.compile(r"\s*REFID:\S*")


class GatewayError(Exception):
    """Base of everything this adapter raises."""


class GatewayUnavailable(GatewayError):
    """Nothing happened at the gateway (or it is known that nothing did)."""


class GatewayOutcomeUnknown(GatewayError):
    """The request was sent but no reply came: it may have taken effect."""


class GatewayRejected(GatewayError):
    def __init__(self, reason: str, response_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.response_code = reason, response_code


@dataclass(frozen=True)
class TransactionResult:
    outcome: Outcome
    transaction_id: str | None
    response_code: int | None
    reason: str | None  # None when approved
    response_text: str = ""

    @property
    def approved(self) -> bool:
        return self.outcome == "approved"


class SaleResult(TransactionResult):
    pass


class RefundResult(TransactionResult):
    pass


class VoidResult(TransactionResult):
    pass


@dataclass(frozen=True)
class VaultEntry:
    vault_id: str
    brand: str | None  # None for an eCheck
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    method_type: MethodType


@dataclass(frozen=True)
class GatewayAction:
    action_type: str  # sale, refund, void, settle, check_return, ...
    amount: Decimal
    date: str
    success: bool
    response_text: str
    response_code: int | None


@dataclass(frozen=True)
class GatewayTransaction:
    transaction_id: str
    order_id: str
    kind: str  # the first action: sale, refund, validate
    method_type: MethodType
    condition: str
    amount: Decimal
    approved: bool
    actions: tuple[GatewayAction, ...]
    brand: str | None = None
    last4: str | None = None
    original_transaction_id: str | None = None


def reason_for(response: str, code: int | None, text: str) -> str | None:
    """A clear human reason for a declined or errored reply."""
    if response == "1":
        return None
    plain = _REFID.sub("", text).strip()
    if "authentication failed" in plain.lower():
        return "invalid security key"
    if code in REASONS:
        return REASONS[code]
    if code == 300:
        return f"rejected by the gateway: {plain}" if plain else "rejected by the gateway"
    return f"declined: {plain}" if plain else "declined"


def _amount(value: Decimal) -> str:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise ValueError("amount must be a positive Decimal")
    if value != value.quantize(CENT):
        raise ValueError("amount has more than two decimals")
    return str(value.quantize(CENT))


def _code(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def _text(node: ET.Element, tag: str) -> str:
    return (node.findtext(tag) or "").strip()


def _brand(cc_type: str, masked: str) -> str | None:
    if cc_type:
        return cc_type.lower()
    # Older gateways omit cc_type; the masked number keeps its first digit.
    return {"4": "visa", "5": "mastercard", "2": "mastercard", "3": "amex",
            "6": "discover"}.get(masked[:1], "unknown") if masked else None


def _gateway_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")


def _vault_entry(node: ET.Element) -> VaultEntry:
    card, account = _text(node, "cc_number"), _text(node, "check_account")
    exp = _text(node, "cc_exp")
    has_exp = card and len(exp) == 4 and exp.isdigit()
    return VaultEntry(
        vault_id=node.get("id") or _text(node, "customer_vault_id"),
        brand=_brand(_text(node, "cc_type"), card) if card else None,
        last4=(card or account)[-4:] or None,
        exp_month=int(exp[:2]) if has_exp else None,
        exp_year=2000 + int(exp[2:]) if has_exp else None,
        method_type="credit_card" if card else "echeck",
    )


def _transaction(node: ET.Element) -> GatewayTransaction:
    actions = tuple(
        GatewayAction(_text(a, "action_type"), Decimal(_text(a, "amount") or "0"),
                      _text(a, "date"), _text(a, "success") == "1",
                      _text(a, "response_text"), _code(_text(a, "response_code")))
        for a in node.findall("action")
    )
    first = actions[0] if actions else None
    card = _text(node, "cc_number")
    return GatewayTransaction(
        transaction_id=_text(node, "transaction_id"), order_id=_text(node, "order_id"),
        kind=first.action_type if first else "", condition=_text(node, "condition"),
        method_type="echeck" if _text(node, "transaction_type") == "ck" else "credit_card",
        amount=first.amount if first else Decimal("0.00"),
        approved=bool(first and first.success), actions=actions,
        brand=_brand(_text(node, "cc_type"), card) if card else None,
        last4=(card or _text(node, "check_account"))[-4:] or None,
        original_transaction_id=_text(node, "original_transaction_id") or None,
    )


class NmiGateway:
    TRANSACT, QUERY = "/api/transact.php", "/api/query.php"

    def __init__(self, session: aiohttp.ClientSession, base_url: str, security_key: str, *,
                 timeout_seconds: float = 10.0,
                 retry_delays: tuple[float, ...] = (0.2, 0.6)) -> None:
        self._session = session
        self._base_url = base_url.rstrip("/")
        self._key = security_key
        # The connect phase gets its own, shorter limit: a connect timeout means
        # nothing was sent, while the overall limit may fire after sending.
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds,
                                              connect=min(timeout_seconds / 2, 5.0))
        self._retry_delays = retry_delays

    def __repr__(self) -> str:
        return f"NmiGateway(base_url={self._base_url!r})"

    # -- money: sent exactly once ------------------------------------------
    async def sale(self, order_id: str, amount: Decimal, currency: str, *,
                   payment_token: str | None = None, vault_id: str | None = None,
                   method_type: MethodType = "credit_card") -> SaleResult:
        if (payment_token is None) == (vault_id is None):
            raise ValueError("give exactly one of payment_token or vault_id")
        fields = {"type": "sale", "orderid": order_id, "amount": _amount(amount),
                  "currency": currency.upper(), "payment": PAYMENT_FIELD[method_type]}
        fields.update({"payment_token": payment_token} if payment_token else
                      {"customer_vault_id": vault_id or ""})
        return SaleResult(**await self._transaction_call("sale", fields, order_id=order_id))

    async def refund(self, transaction_id: str, amount: Decimal | None = None) -> RefundResult:
        """Refund all that is left of a sale, or `amount` of it."""
        # "Setting the amount to 0.00 will refund the entire amount" (NMI's documented form).
        fields = {"type": "refund", "transactionid": transaction_id,
                  "amount": "0.00" if amount is None else _amount(amount)}
        return RefundResult(**await self._transaction_call("refund", fields,
                                                           original_transaction_id=transaction_id))

    async def void(self, transaction_id: str) -> VoidResult:
        fields = {"type": "void", "transactionid": transaction_id}
        return VoidResult(**await self._transaction_call("void", fields,
                                                         original_transaction_id=transaction_id))

    # -- vault -------------------------------------------------------------
    async def add_to_vault(self, payment_token: str) -> VaultEntry:
        """Store a token's method; a lost reply raises GatewayOutcomeUnknown."""
        reply = await self._form_call(self.TRANSACT, {"customer_vault": "add_customer",
                                                      "payment_token": payment_token},
                                      op="vault_add", retry=False)
        vault_id = reply.get("customer_vault_id", "")
        if reply.get("response") != "1" or not vault_id:
            raise self._rejected(reply)
        entry = await self.get_vault_entry(vault_id)
        if entry is None:
            raise GatewayUnavailable(f"vault entry {vault_id} was added but cannot be read back")
        return entry

    async def get_vault_entry(self, vault_id: str) -> VaultEntry | None:
        root = await self._query({"report_type": "customer_vault", "customer_vault_id": vault_id})
        node = root.find("customer_vault/customer")
        return _vault_entry(node) if node is not None else None

    async def delete_from_vault(self, vault_id: str) -> None:
        """Idempotent: an entry that is already gone counts as deleted."""
        reply = await self._form_call(self.TRANSACT, {"customer_vault": "delete_customer",
                                                      "customer_vault_id": vault_id},
                                      op="vault_delete", retry=True)
        text = reply.get("responsetext", "").lower()
        if reply.get("response") != "1" and "invalid customer vault id" not in text:
            raise self._rejected(reply)

    # -- reads -------------------------------------------------------------
    async def find_by_order_id(self, order_id: str) -> list[GatewayTransaction]:
        root = await self._query({"order_id": order_id})
        return [_transaction(node) for node in root.findall("transaction")]

    async def transactions_between(self, start: datetime, end: datetime) -> list[GatewayTransaction]:
        """Every transaction with an action in [start, end] (the Query API's start_date/end_date, UTC, to
        the second, both inclusive)."""
        root = await self._query({"start_date": _gateway_time(start), "end_date": _gateway_time(end)})
        return [_transaction(node) for node in root.findall("transaction")]

    async def get_transaction(self, transaction_id: str) -> GatewayTransaction | None:
        root = await self._query({"transaction_id": transaction_id})
        node = root.find("transaction")
        return _transaction(node) if node is not None else None

    async def check_keys(self) -> tuple[bool, str | None]:
        """Prove the security key works with a card-less `validate` (moves no money).

        The simulator approves it; the real gateway answers an error about the
        missing card, which still proves the key was accepted.
        """
        try:
            reply = await self._form_call(self.TRANSACT, {"type": "validate"},
                                          op="check_keys", retry=True)
        except GatewayUnavailable as exc:
            return False, f"gateway unavailable: {exc}"
        code, text = _code(reply.get("response_code")), reply.get("responsetext", "")
        if "authentication failed" in text.lower():
            return False, "invalid security key"
        if code in (410, 411):
            return False, REASONS[code]
        return True, None

    # -- plumbing ----------------------------------------------------------
    async def _transaction_call(self, op: str, fields: dict[str, str], **context: str) -> dict:
        reply = await self._form_call(self.TRANSACT, fields, op=op, retry=False)
        response = reply.get("response", "")
        if response not in OUTCOMES:
            raise GatewayOutcomeUnknown(f"{op}: the gateway reply could not be read")
        code, text = _code(reply.get("response_code")), reply.get("responsetext", "")
        result = dict(outcome=OUTCOMES[response], transaction_id=reply.get("transactionid") or None,
                      response_code=code, reason=reason_for(response, code, text),
                      response_text=text)
        log.info("gateway_result", op=op, outcome=result["outcome"], response_code=code,
                 transaction_id=result["transaction_id"], **context)
        return result

    def _rejected(self, reply: dict[str, str]) -> GatewayRejected:
        code = _code(reply.get("response_code"))
        text = reply.get("responsetext", "")
        return GatewayRejected(reason_for(reply.get("response", "3"), code, text) or text, code)

    async def _form_call(self, path: str, fields: dict[str, str], *, op: str,
                         retry: bool) -> dict[str, str]:
        text = await (self._retrying(path, fields, op) if retry
                      else self._post(path, fields, op=op, moves_money=True))
        return dict(parse_qsl(text.strip(), keep_blank_values=True))

    async def _query(self, fields: dict[str, str]) -> ET.Element:
        text = await self._retrying(self.QUERY, fields, "query")
        try:
            root = ET.fromstring(text.strip())
        except ET.ParseError:
            raise GatewayUnavailable("query: the gateway reply is not XML") from None
        error = _text(root, "error_response")
        if error:
            raise GatewayRejected(reason_for("3", 300, error) or error, 300)
        return root

    async def _retrying(self, path: str, fields: dict[str, str], op: str) -> str:
        """Only for calls that are safe to repeat: reads, vault delete, key check."""
        for delay in (*self._retry_delays, None):
            try:
                return await self._post(path, fields, op=op, moves_money=False)
            except (GatewayUnavailable, GatewayOutcomeUnknown) as exc:
                if delay is None:
                    # Repeating changed nothing, so "unknown" means unavailable here.
                    raise GatewayUnavailable(str(exc)) from exc
                log.warning("gateway_retry", op=op, error=str(exc), delay=delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _post(self, path: str, fields: dict[str, str], *, op: str, moves_money: bool) -> str:
        started = time.monotonic()
        try:
            # The key goes straight into the call, never into a local variable
            # that a traceback renderer showing locals could print.
            async with self._session.post(self._base_url + path,
                                          data={"security_key": self._key, **fields},
                                          timeout=self._timeout) as response:
                status, body = response.status, await response.text(errors="replace")
        except aiohttp.ConnectionTimeoutError:
            raise GatewayUnavailable(f"{op}: timed out connecting to the gateway") from None
        except (aiohttp.ClientConnectorError, aiohttp.InvalidURL) as exc:
            raise GatewayUnavailable(f"{op}: cannot connect to the gateway "
                                     f"({type(exc).__name__})") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise GatewayOutcomeUnknown(f"{op}: sent, but no reply "
                                        f"({type(exc).__name__})") from None
        elapsed_ms = round((time.monotonic() - started) * 1000)
        log.debug("gateway_http", op=op, status=status, elapsed_ms=elapsed_ms)
        if status == 503 or 400 <= status < 500:
            raise GatewayUnavailable(f"{op}: the gateway answered HTTP {status}")
        if status >= 500:
            # A 500/502/504 may come after the gateway acted on the request.
            error = GatewayOutcomeUnknown if moves_money else GatewayUnavailable
            raise error(f"{op}: the gateway answered HTTP {status}")
        return body
