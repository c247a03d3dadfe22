"""Sync's half of three-way reconciliation: the books (accounting) and the PSA against the ledger as sync
knows it from the payment events (payment_writebacks, writeback_applications, the published invoices).
No I/O: the worker reads both sides and hands them here.

Drift classes (BooksDriftCode):
- `accounting_payment_missing`: a payment that stands in the ledger (succeeded, money received) whose
  write-back is done, but accounting holds no payment of ours for it (never written, deleted by a
  bookkeeper, or its id now names someone else's payment). An unapplied payment counts too: the money
  is the ledger's all the same.
- `accounting_amount_differs`: the accounting payment's total, or its amount per invoice, is not the
  ledger's (sale, live applications on the invoices linked in these books). Judged here too: a standing
  payment whose accounting payment is voided (accounting shows 0.00), and a cancelled or charged-back
  payment whose accounting payment is still live (the ledger shows 0.00): an amount at stake either way,
  and a re-sent write-back (void, or re-write) repairs both, which is what the person needs to see.
- `psa_paid_date_differs`: the ledger has an invoice paid in full by our payments and the PSA shows no
  paid date; or the ledger has it open and the PSA still shows the paid date sync wrote. A PSA date sync
  did not write (or an invoice paid in accounting by other means) is paid elsewhere: not a drift.
- `paid_elsewhere_while_open`: accounting shows the invoice's balance 0 while the ledger (its total less
  our live applications) still has money to collect on it.
A write-back that is still pending or retrying is lag, not drift: its payment and its invoices are left out.
Refund receipts are not compared (they have no drift class of their own).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billing_shared.events.reconciliation import MAX_DRIFTS_PER_EVENT, DriftData, Evidence
from billing_shared.money import ZERO

from billing_sync.domain.writeback import LIVE, REVERSED, AccountingTarget, is_voided, marker, payment_matches

REFERENCE_LENGTH = 21  # QuickBooks' PaymentRefNum (write-back truncates the reference to it)


@dataclass(frozen=True)
class LedgerPayment:
    """A payment as sync last recorded it from `billing.payments.v1`, with what its write-back holds."""
    payment_id: str
    organization_id: str
    status: str
    currency: str
    sale_amount: Decimal
    transaction_id: str | None
    applications: Mapping[str, Decimal]  # live applications: our invoice id -> amount
    accounting_payment_id: str | None
    done: bool  # the write-back has handled the newest snapshot (False: pending or retrying)
    touched: tuple[str, ...] = ()  # every invoice it applies, or once applied, to (a cancel's paid dates too)

    @property
    def reference(self) -> str:
        return (self.transaction_id or self.payment_id)[:REFERENCE_LENGTH]


@dataclass(frozen=True)
class LedgerInvoice:
    """An invoice as sync publishes it, with what our live payments apply to it and its PSA facts."""
    invoice_id: str
    organization_id: str
    currency: str
    total: Decimal
    status: str  # as published: open, paid (paid by other means), voided
    ours: Decimal  # what our live payments apply to it
    psa_paid_written: date | None = None  # the paid date sync wrote last (kept when it cleared it)
    paid_elsewhere: bool = False  # accounting (as last read) shows it paid by other means

    @property
    def covered(self) -> bool:
        return self.total > 0 and self.ours >= self.total

    @property
    def open_amount(self) -> Decimal:
        return max(self.total - self.ours, ZERO)


def in_period(at: datetime | None, start: datetime, end: datetime) -> bool:
    return at is not None and start <= at < end


def ours(found: Mapping[str, Any], payment: LedgerPayment) -> bool:
    """Is the accounting payment `found` the one sync wrote for `payment` (its marker, or its reference:
    a voided payment's note says only `Voided`)?"""
    return marker(payment.payment_id) in str(found.get("PrivateNote") or "") \
        or found.get("PaymentRefNum") == payment.reference


def _clip(text: str, limit: int) -> str:
    """Evidence and summaries are bounded (2000 and 500 characters): a payment spread over many invoices
    says what fits and that there is more."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _money(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else "0")).quantize(Decimal("0.01"))


def _lines(found: Mapping[str, Any]) -> dict[str, Decimal]:
    lines: dict[str, Decimal] = {}
    for line in found.get("Line") or ():
        for link in line.get("LinkedTxn") or ():
            if link.get("TxnType") == "Invoice":
                key = str(link["TxnId"])
                lines[key] = lines.get(key, ZERO) + _money(line.get("Amount"))
    return {k: v for k, v in lines.items() if v}


def _ledger_text(payment: LedgerPayment) -> str:
    applied = ", ".join(f"{amount} to {invoice_id}" for invoice_id, amount in sorted(payment.applications.items())
                        if amount > 0) or "nothing applied"
    return _clip(f"payment {payment.payment_id} {payment.status}: received {payment.sale_amount} {payment.currency}; "
                 f"{applied}", 2000)


def _books_text(found: Mapping[str, Any] | None, accounting_id: str | None) -> str:
    if found is None:
        return f"no payment of ours{f' (payment {accounting_id} is gone or not ours)' if accounting_id else ''}"
    lines = ", ".join(f"{amount} to invoice {invoice}" for invoice, amount in sorted(_lines(found).items()))
    state = "voided" if is_voided(found) else f"total {_money(found.get('TotalAmt'))}"
    return _clip(f"Payment {found.get('Id')}: {state}; {lines or 'no invoice lines'}", 2000)


def _drift(*, summary: str, **fields: Any) -> DriftData:
    return DriftData(summary=_clip(summary, 500), **fields)


def payment_drift(payment: LedgerPayment, found: Mapping[str, Any] | None,
                  linked: Mapping[str, str]) -> DriftData | None:
    """The drift between a payment whose write-back is done and the accounting payment found for it
    (None: no payment of ours there). `linked`: our invoice id -> its accounting invoice id in these books."""
    if not payment.done:
        return None  # lag, not drift
    common = dict(organization_id=payment.organization_id, payment_id=payment.payment_id,
                  currency=payment.currency, evidence=Evidence(ledger=_ledger_text(payment),
                                                               accounting=_books_text(found, payment.accounting_payment_id)))
    found_total = ZERO if found is None or is_voided(found) else _money(found.get("TotalAmt"))
    if payment.status in REVERSED:
        if found_total > 0:
            return _drift(code="accounting_amount_differs", accounting_id=str(found["Id"]), amount=found_total,
                             summary=f"Payment {payment.payment_id} is {payment.status} in the ledger, but accounting "
                                     f"still holds {found_total} for it.", **common)
        return None
    if payment.status not in LIVE or payment.sale_amount <= 0:
        return None
    if found is None:
        return _drift(code="accounting_payment_missing", amount=payment.sale_amount,
                         summary=f"Payment {payment.payment_id} ({payment.sale_amount} {payment.currency}) stands in "
                                 f"the ledger, but accounting has no payment for it.", **common)
    target = AccountingTarget("payment", payment.sale_amount, payment.applications)
    expected = target.lines(linked)
    if not is_voided(found) and payment_matches(found, target, expected):
        return None
    found_lines = _lines(found)
    at_stake = abs(found_total - payment.sale_amount) or sum(
        (abs(found_lines.get(k, ZERO) - expected.get(k, ZERO)) for k in set(found_lines) | set(expected)), ZERO)
    what = "is voided" if is_voided(found) else "differs from the ledger's amounts"
    return _drift(code="accounting_amount_differs", accounting_id=str(found["Id"]), amount=at_stake,
                     summary=f"Accounting payment {found['Id']} for payment {payment.payment_id} {what} "
                             f"(ledger {payment.sale_amount}, accounting {found_total}).", **common)


def psa_drift(invoice: LedgerInvoice, psa_paid: date | None) -> DriftData | None:
    """The PSA's paid date (read live) against the invoice as the ledger has it."""
    if invoice.status == "voided":
        return None
    common = dict(code="psa_paid_date_differs", organization_id=invoice.organization_id, invoice_id=invoice.invoice_id,
                  currency=invoice.currency,
                  evidence=Evidence(ledger=f"invoice {invoice.invoice_id}: total {invoice.total}, our payments apply "
                                           f"{invoice.ours}", psa=f"paid date {psa_paid.isoformat() if psa_paid else 'none'}"))
    if invoice.covered and psa_paid is None:
        return _drift(amount=invoice.total, summary=f"Invoice {invoice.invoice_id} is paid in full by our payments, "
                                                       f"but the PSA shows no paid date.", **common)
    paid_here_only = psa_paid is not None and psa_paid == invoice.psa_paid_written
    if not invoice.covered and paid_here_only and not invoice.paid_elsewhere and invoice.status == "open":
        return _drift(amount=invoice.open_amount,
                         summary=f"Invoice {invoice.invoice_id} is open in the ledger, but the PSA still shows the "
                                 f"paid date {psa_paid.isoformat()} we wrote.", **common)
    return None


def paid_elsewhere_drift(invoice: LedgerInvoice, found: Mapping[str, Any]) -> DriftData | None:
    """Accounting's invoice (read live) shows balance 0 while the ledger still has it open."""
    total, balance = _money(found.get("TotalAmt")), _money(found.get("Balance"))
    if invoice.status != "open" or total <= 0 or balance != 0 or invoice.open_amount <= 0:
        return None
    return _drift(code="paid_elsewhere_while_open", organization_id=invoice.organization_id,
                     invoice_id=invoice.invoice_id, accounting_id=str(found.get("Id")), currency=invoice.currency,
                     amount=invoice.open_amount,
                     summary=f"Accounting shows invoice {invoice.invoice_id} paid (balance 0), but the ledger still "
                             f"has {invoice.open_amount} open on it.",
                     evidence=Evidence(ledger=f"invoice {invoice.invoice_id} open: total {invoice.total}, our payments "
                                              f"apply {invoice.ours}",
                                       accounting=f"Invoice {found.get('Id')} (DocNumber {found.get('DocNumber')}): "
                                                  f"total {total}, balance {balance}"))


BYTES_PER_EVENT = 600_000  # the drifts' JSON; the broker refuses a message over about 1 MB (and the relay
# would then be stuck on it)


def capped(drifts: Iterable[DriftData]) -> tuple[list[DriftData], bool]:
    """The drifts one books_checked carries, in a stable order, and whether some were left out (more than
    MAX_DRIFTS_PER_EVENT, or more bytes than one message should hold)."""
    ordered = sorted(drifts, key=lambda d: (d.code, d.payment_id or "", d.invoice_id or ""))
    kept: list[DriftData] = []
    size = 0
    for drift in ordered[:MAX_DRIFTS_PER_EVENT]:
        size += len(drift.model_dump_json().encode())
        if size > BYTES_PER_EVENT:
            break
        kept.append(drift)
    return kept, len(kept) < len(ordered)


def psa_paid_date_to_write(invoice: LedgerInvoice, psa_paid: date | None, today: date) -> tuple[bool, date | None]:
    """A re-sent write-back's PSA paid date, from the ledger's state: (write?, date). Paid in full by our
    payments: a date (the PSA's own if it shows one, else the one sync wrote, else today); open: none,
    unless the PSA's date was set by other means (paid elsewhere) or accounting shows it paid elsewhere."""
    if invoice.status == "voided":
        return False, None
    if invoice.covered:
        return (psa_paid is None), (psa_paid or invoice.psa_paid_written or today)
    if psa_paid is not None and psa_paid == invoice.psa_paid_written and not invoice.paid_elsewhere:
        return True, None
    return False, psa_paid
