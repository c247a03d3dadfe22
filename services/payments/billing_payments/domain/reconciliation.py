"""The gateway against the ledger, for one period: what each payment's sale and refunds should look like
at the gateway, and what the gateway holds that the ledger does not. Pure: the caller reads both sides.

Drift codes (shared/billing_shared/events/reconciliation.py):
- `gateway_sale_unknown_to_ledger`: an approved sale that stands at the gateway (not voided, not failed,
  not refunded in full) while the ledger holds no live sale for it: no payment with its order id, a payment
  pending past the in-flight grace, failed, or cancelled.
- `ledger_sale_not_at_gateway`: a succeeded payment whose sale the gateway does not have, declined,
  voided, or failed at settlement.
- `gateway_amount_differs`: the sale's amount, or the refunds sent through the gateway, differ.
Charged-back payments keep their amounts for audit and are left out; a cancel still in flight too.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from billing_shared.events.reconciliation import DriftData, Evidence
from billing_shared.money import ZERO

from .payment import Payment


@dataclass(frozen=True)
class AtGateway:
    """One gateway transaction as the Query API shows it."""

    transaction_id: str
    order_id: str
    kind: str  # sale, refund, validate
    amount: Decimal
    approved: bool
    condition: str  # pending, complete, canceled (voided), failed (at settlement)
    original_transaction_id: str | None = None

    @property
    def stands(self) -> bool:
        """Approved and neither voided nor failed at settlement: money moved, or will at settlement."""
        return self.approved and self.condition not in ("canceled", "failed")


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _sale_evidence(sale: AtGateway | None) -> str:
    if sale is None:
        return "no such transaction"
    state = {"canceled": "voided", "failed": "failed at settlement"}.get(sale.condition, sale.condition)
    return f"sale {sale.transaction_id} {_money(sale.amount)} {'approved' if sale.approved else 'declined'}, {state}"


def _ledger_evidence(p: Payment) -> str:
    sale = next((t for t in p.transactions if t.type == "sale"), None)
    amount = _money(sale.amount) if sale else _money(p.original_amount)
    return f"payment {p.payment_id} {p.status}, sale {p.transaction_id or 'none'} {amount}"


def _drift(code: str, p: Payment | None, summary: str, *, ledger: str, gateway: str, amount: Decimal | None,
           transaction_id: str | None, order_id: str | None = None) -> DriftData:
    return DriftData(
        code=code, summary=summary, amount=amount, transaction_id=transaction_id,  # type: ignore[arg-type]
        organization_id=p.organization_id if p else None, payment_id=p.payment_id if p else order_id or None,
        invoice_id=p.invoice_id if p else None, currency=p.currency if p else None,  # type: ignore[arg-type]
        evidence=Evidence(ledger=ledger, gateway=gateway),
    )


def check_gateway(payments: Iterable[Payment], transactions: Iterable[AtGateway], *, now: datetime,
                  in_flight: timedelta) -> list[DriftData]:
    """Every drift between the ledger's payments and the gateway's transactions given. `payments` must hold
    each payment whose order id appears among `transactions` (the caller looks them up)."""
    by_order: dict[str, list[AtGateway]] = defaultdict(list)
    for t in transactions:
        if t.kind in ("sale", "refund"):
            by_order[t.order_id].append(t)
    ledger = {p.payment_id: p for p in payments}
    drifts: list[DriftData] = []
    for p in ledger.values():
        drifts.extend(_payment_drifts(p, by_order.get(p.payment_id, []), now=now, in_flight=in_flight))
    for order_id, found in by_order.items():
        if order_id in ledger:
            continue
        for sale in _standing_sales(found):
            drifts.append(_drift(
                "gateway_sale_unknown_to_ledger", None,
                f"The gateway holds a sale of {_money(sale.amount)} with no payment in the ledger.",
                ledger=f"no payment with order id {order_id or '(none)'}", gateway=_sale_evidence(sale),
                amount=sale.amount, transaction_id=sale.transaction_id, order_id=order_id))
    return drifts


def _standing_sales(found: Sequence[AtGateway]) -> list[AtGateway]:
    """Sales that stand and are not refunded in full."""
    out = []
    for sale in (t for t in found if t.kind == "sale" and t.stands):
        refunded = sum((r.amount for r in found if r.kind == "refund" and r.stands
                        and r.original_transaction_id == sale.transaction_id), ZERO)
        if refunded < sale.amount:
            out.append(sale)
    return out


def _payment_drifts(p: Payment, found: Sequence[AtGateway], *, now: datetime,
                    in_flight: timedelta) -> list[DriftData]:
    if p.status == "charged_back" or p.gateway_reversal == "pending":
        return []
    if p.status == "pending" and now - p.created_at < in_flight:
        return []  # its sale may still be on its way; the reconciler resolves it after the grace
    if p.status in ("pending", "failed", "cancelled"):
        return [
            _drift("gateway_sale_unknown_to_ledger", p,
                   f"The gateway holds a sale of {_money(sale.amount)} that the ledger has as {p.status}.",
                   ledger=_ledger_evidence(p) + (f" ({p.failure_reason})" if p.failure_reason else ""),
                   gateway=_sale_evidence(sale), amount=sale.amount, transaction_id=sale.transaction_id)
            for sale in _standing_sales(found)
        ]
    # succeeded: its sale stands at the gateway, for the same amount, with the same refunds
    sale = next((t for t in found if t.kind == "sale" and t.transaction_id == p.transaction_id), None)
    if sale is None or not sale.stands:
        return [_drift("ledger_sale_not_at_gateway", p,
                       "The ledger has this payment as succeeded, but its sale does not stand at the gateway.",
                       ledger=_ledger_evidence(p), gateway=_sale_evidence(sale), amount=p.original_amount,
                       transaction_id=p.transaction_id)]
    drifts = []
    ledger_sale = next((t.amount for t in p.transactions if t.type == "sale"), p.original_amount)
    if sale.amount != ledger_sale:
        drifts.append(_drift("gateway_amount_differs", p,
                             f"The sale is {_money(sale.amount)} at the gateway and {_money(ledger_sale)} in the ledger.",
                             ledger=_ledger_evidence(p), gateway=_sale_evidence(sale),
                             amount=abs(sale.amount - ledger_sale), transaction_id=sale.transaction_id))
    ours = {t.transaction_id: t.amount for t in p.transactions
            if t.type == "refund" and t.transaction_id and t.failure_reason is None}
    theirs = {t.transaction_id: t.amount for t in found
              if t.kind == "refund" and t.stands and t.original_transaction_id == sale.transaction_id}
    if ours != theirs:
        ours_total, theirs_total = sum(ours.values(), ZERO), sum(theirs.values(), ZERO)
        drifts.append(_drift(
            "gateway_amount_differs", p,
            f"Refunds through the gateway are {_money(theirs_total)} there and {_money(ours_total)} in the ledger.",
            ledger="refunds " + (", ".join(f"{k} {_money(v)}" for k, v in sorted(ours.items())) or "none"),
            gateway="refunds " + (", ".join(f"{k} {_money(v)}" for k, v in sorted(theirs.items())) or "none"),
            amount=abs(theirs_total - ours_total), transaction_id=sale.transaction_id))
    return drifts
