"""Preconditions of a payment (DOMAIN.md "Pay"), each with its own error, in a fixed order."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing_shared.money import ZERO

from .errors import PaymentError
from .invoices import PayableInvoice
from .ledger import require_payable
from .payment import Allocation
from .settings import ProcessingSettings


@dataclass(frozen=True)
class KnownContact:
    """A contact as the directory (billing.directory.v1) last described it."""

    contact_id: str
    organization_id: str
    active: bool


def require_payer(contact_id: str | None) -> str:
    """Every payment names its payment contact (the vendor's flow makes it mandatory)."""
    if not contact_id:
        raise PaymentError("invalid_request", "contact_id is required: name the contact who pays")
    return contact_id


def check_payer(contact_id: str, known: KnownContact | None, organization_id: str) -> None:
    """The payer must be a known, active contact of the invoice's organization. A contact the directory
    has not described yet is refused too: payments cannot tell it from a made-up id."""
    if known is None or not known.active or known.organization_id != organization_id:
        why = "is not known" if known is None else "is not active" if not known.active \
            else "belongs to another organization"
        raise PaymentError("contact_not_in_organization",
                           f"contact {contact_id} {why}: the payer must be an active contact of {organization_id}",
                           contact_id=contact_id, organization_id=organization_id)


def check_processing(settings: ProcessingSettings, environment: str) -> None:
    if not settings.active:
        raise PaymentError("processing_inactive", "payment processing is not active")
    if environment not in settings.accept_payments_in:
        raise PaymentError("environment_not_enabled", f"payments are not accepted in {environment}",
                           environment=environment)


def check_method_type(settings: ProcessingSettings, environment: str, method_type: str) -> None:
    if method_type not in settings.types_for(environment):
        raise PaymentError("payment_type_not_enabled", f"{method_type} payments are not enabled in {environment}",
                           environment=environment, method_type=method_type)


def amount_to_pay(invoice: PayableInvoice, settings: ProcessingSettings, requested: Decimal | None) -> Decimal:
    """The amount this payment may take from the invoice (its whole balance by default)."""
    require_payable(invoice)
    if invoice.currency != settings.currency:
        raise PaymentError("currency_mismatch",
                           f"the invoice is in {invoice.currency}; payments are processed in {settings.currency}",
                           invoice_currency=invoice.currency, currency=settings.currency)
    if invoice.in_flight_payment_id is not None:
        raise PaymentError("payment_in_progress", "another payment of this invoice is in progress",
                           invoice_id=invoice.invoice_id)
    amount = invoice.balance if requested is None else requested
    if amount <= ZERO:
        raise PaymentError("invalid_request", "the amount must be more than 0.00", amount=str(amount))
    if amount > invoice.balance:
        raise PaymentError("amount_exceeds_balance", f"the invoice's balance is {invoice.balance}",
                           balance=str(invoice.balance), amount=str(amount))
    return amount


def amounts_to_pay(invoices: Sequence[PayableInvoice], settings: ProcessingSettings,
                   requested: Sequence[Decimal | None]) -> tuple[Allocation, ...]:
    """Several invoices in one sale: all of one organization, and each one payable as `amount_to_pay` says
    (its balance by default). One refusal refuses the whole payment; its details name the invoice."""
    organizations = sorted({i.organization_id for i in invoices})
    if len(organizations) > 1:
        raise PaymentError("invalid_request", "the invoices belong to more than one organization: "
                           "pay each organization's invoices separately", organization_ids=organizations)
    allocations = []
    for invoice, amount in zip(invoices, requested, strict=True):
        try:
            allocations.append(Allocation(invoice.invoice_id, amount_to_pay(invoice, settings, amount)))
        except PaymentError as exc:
            raise PaymentError(exc.code, f"invoice {invoice.invoice_id}: {exc.message}",
                               **{**exc.details, "invoice_id": invoice.invoice_id}) from None
    return tuple(allocations)
