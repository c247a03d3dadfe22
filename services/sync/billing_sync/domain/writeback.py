"""Payment write-back rules: what accounting and the PSA should show for a payment snapshot. No I/O.

The accounting payment of a payment holds the money received (the sale), with one line per application;
each refund that stands (a `refund` row without a failure) is its own refund receipt, written once. A cancelled
or charged-back payment is voided there (recorded first when accounting never took it, so the books show it
charged then reversed, whatever the timing), and its refund receipts are removed: the ledger shows its refund
as 0.00 and the voided payment takes the whole sale out of the books. An invoice's PSA paid date is set once
our live applications cover its total, and cleared when they no longer do.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from billing_shared.events.payments import PaymentSnapshot
from billing_shared.money import ZERO

REVERSED = frozenset({"cancelled", "charged_back"})  # terminal: the money never stayed with us
LIVE = frozenset({"succeeded"})


@dataclass(frozen=True)
class AccountingTarget:
    kind: Literal["none", "payment", "void"]
    total: Decimal = ZERO
    applications: Mapping[str, Decimal] = field(default_factory=dict)  # our invoice id -> amount

    def lines(self, accounting_ids: Mapping[str, str]) -> dict[str, Decimal]:
        """Accounting invoice id -> amount, for the applications whose invoice is in accounting."""
        out: dict[str, Decimal] = {}
        for invoice_id, amount in self.applications.items():
            if invoice_id in accounting_ids and amount > 0:
                out[accounting_ids[invoice_id]] = out.get(accounting_ids[invoice_id], ZERO) + amount
        return out


def live_applications(snapshot: PaymentSnapshot) -> dict[str, Decimal]:
    """What the payment applies to each invoice now (nothing unless it succeeded)."""
    if snapshot.status not in LIVE:
        return {}
    applied: dict[str, Decimal] = {}
    for application in snapshot.applications:
        applied[application.invoice_id] = applied.get(application.invoice_id, ZERO) + application.amount
    return applied


def target_for(snapshot: PaymentSnapshot) -> AccountingTarget:
    if snapshot.status in REVERSED:
        return AccountingTarget("void")
    if snapshot.status not in LIVE:
        return AccountingTarget("none")  # pending or failed: no money to record
    # The money received; what was refunded of it is a refund receipt of its own (`refunds_for`).
    return AccountingTarget("payment", snapshot.sale_amount, live_applications(snapshot))


def accepts(stored_status: str | None, incoming_status: str) -> bool:
    """A reversed payment stays reversed: a late or replayed earlier snapshot never revives it."""
    return stored_status not in REVERSED or incoming_status in REVERSED


def accepted_in_order(stored_status: str | None, snapshots: Iterable[PaymentSnapshot]) -> list[PaymentSnapshot]:
    """The snapshots of one payment that arrived (in arrival order) after what is stored (`stored_status`,
    None when nothing is) and are accepted: a reversed payment stays reversed (a snapshot that would
    revive it is skipped).

    Arrival order (the partition's order: payment events are keyed by organization) is authoritative;
    the envelope's `occurred_at` is the sender's clock, which may differ between payments replicas.
    Replays of the same event never get here (the inbox drops them)."""
    status = stored_status
    kept: list[PaymentSnapshot] = []
    for snapshot in snapshots:
        if accepts(status, snapshot.status):
            kept.append(snapshot)
            status = snapshot.status
    return kept


def latest_in_order(stored_status: str | None,
                    snapshots: Iterable[PaymentSnapshot]) -> PaymentSnapshot | None:
    """The snapshot to keep (see `accepted_in_order`): the last accepted one; None when none is."""
    accepted = accepted_in_order(stored_status, snapshots)
    return accepted[-1] if accepted else None


def newest_live(stored_status: str | None, snapshots: Iterable[PaymentSnapshot]) -> PaymentSnapshot | None:
    """The last accepted snapshot in which the payment stood (succeeded), even when a later one in the
    same batch reversed it: what accounting records before voiding a payment it never took."""
    live = [s for s in accepted_in_order(stored_status, snapshots) if s.status in LIVE]
    return live[-1] if live else None


def as_recorded(reversed_: PaymentSnapshot, live: PaymentSnapshot | None) -> AccountingTarget | None:
    """The payment accounting records for a reversed (cancelled or charged-back) payment that it never
    took, before it is voided: every payment charged at the gateway then reversed ends in the books as
    recorded then voided, whether its first write came before the reversal or not (a refused create
    retried after the cancel arrived). Its amount is the money it kept as it last stood (`live`, its
    newest succeeded snapshot; without one, a charged-back snapshot's amounts, or a cancelled one's sale
    row). It is recorded unapplied, with no invoice lines: the reversal gave its invoices their balance
    back, and others may have paid them since, so accounting would refuse lines on them (the amount
    applied would exceed the open balance) and the write-back would never end; voided, it nets to zero
    either way. None when it has no sale row: it never succeeded, nothing was charged, nothing is
    written. Found by the chaos harness."""
    if live is not None:
        return AccountingTarget("payment", target_for(live).total)
    sale = next((t for t in reversed_.transactions if t.type == "sale"), None)
    if sale is None:
        return None
    if reversed_.status == "charged_back":
        return AccountingTarget("payment", target_for(reversed_.model_copy(update={"status": "succeeded"})).total)
    return AccountingTarget("payment", sale.amount)


def by_payment(items: Iterable[tuple[Any, PaymentSnapshot]]) -> dict[str, list[tuple[Any, PaymentSnapshot]]]:
    """(occurred_at, snapshot) pairs grouped per payment id, each group in arrival order."""
    grouped: dict[str, list[tuple[Any, PaymentSnapshot]]] = {}
    for at, snapshot in items:
        grouped.setdefault(snapshot.payment_id, []).append((at, snapshot))
    return grouped


def payment_matches(current: Mapping[str, Any], target: AccountingTarget, lines: Mapping[str, Decimal]) -> bool:
    """Does the accounting payment already hold the target's total and lines?"""
    if Decimal(str(current.get("TotalAmt", "0"))) != target.total:
        return False
    found: dict[str, Decimal] = {}
    for line in current.get("Line") or ():
        for link in line.get("LinkedTxn") or ():
            if link.get("TxnType") == "Invoice":
                key = str(link["TxnId"])
                found[key] = found.get(key, ZERO) + Decimal(str(line.get("Amount", "0")))
    return {k: v for k, v in found.items() if v} == {k: v for k, v in lines.items() if v}


def is_voided(current: Mapping[str, Any]) -> bool:
    zeroed = Decimal(str(current.get("TotalAmt", "0"))) == 0
    return zeroed and str(current.get("PrivateNote") or "").startswith("Voided")


def paid_dates(
    totals: Mapping[str, Decimal], applied: Mapping[str, Decimal], written: Mapping[str, date | None], today: date,
) -> dict[str, date | None]:
    """The PSA paid date each invoice should get, for those where it differs from what was written:
    set (today) once our live applications cover the total, cleared when they no longer do."""
    changes: dict[str, date | None] = {}
    for invoice_id, total in totals.items():
        fully_paid = total > 0 and applied.get(invoice_id, ZERO) >= total
        current = written.get(invoice_id)
        if fully_paid and current is None:
            changes[invoice_id] = today
        elif not fully_paid and current is not None:
            changes[invoice_id] = None
    return changes


def marker(payment_id: str) -> str:
    """Written into the accounting payment's PrivateNote: how a retry finds a payment it created."""
    return f"billing-link payment {payment_id}"


def memo(snapshot: PaymentSnapshot) -> str:
    return f"{marker(snapshot.payment_id)}; gateway transaction {snapshot.transaction_id or '-'}"


@dataclass(frozen=True)
class RefundTarget:
    """One `refund` row of a payment, as accounting should show it: a refund receipt when it `stands`."""
    number: int  # its place among the payment's refund rows, from 1 (rows are only ever appended)
    amount: Decimal
    at: datetime
    transaction_id: str | None
    stands: bool  # False: the refund failed, or the payment was reversed (the ledger shows refund 0.00)


def refunds_for(snapshot: PaymentSnapshot) -> list[RefundTarget]:
    reversed_ = snapshot.status in REVERSED
    rows = [t for t in snapshot.transactions if t.type == "refund"]
    return [RefundTarget(n, t.amount, t.at, t.transaction_id,
                         not reversed_ and t.failure_reason is None and t.amount > 0)
            for n, t in enumerate(rows, start=1)]


def refund_marker(payment_id: str, number: int) -> str:
    """Written into the refund receipt's PrivateNote: how a retry finds it (the `;` ends the id, so refund 1
    of payment p1 is never taken for refund 1 of payment p10)."""
    return f"billing-link refund {number} of payment {payment_id};"


def refund_memo(snapshot: PaymentSnapshot, refund: RefundTarget) -> str:
    return (f"{refund_marker(snapshot.payment_id, refund.number)} refunded {refund.amount} of the "
            f"{snapshot.sale_amount} received (gateway transaction {snapshot.transaction_id or '-'}; "
            f"refund transaction {refund.transaction_id or '-'})")
