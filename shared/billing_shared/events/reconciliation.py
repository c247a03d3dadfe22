"""Three-way reconciliation: the gateway, the ledger, the books (accounting) and the PSA.

Payments owns a reconciliation run and its report. It checks the gateway against the ledger itself and asks
sync, by `reconciliation.requested` on `billing.payments.v1`, to check the books and the PSA against the
ledger as sync knows it from the payment events; sync answers with `reconciliation.books_checked` on
`billing.sync.v1`. When both parts are in, payments publishes `reconciliation.completed`. A repair of a
books drift is asked of sync by `writeback.resend_requested`. No service reads another's schema.
"""
from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from billing_shared.money import Currency, NonNegativeMoney

from .envelope import Data, Event, Ident, Instant

# Each kind of disagreement has its own code (the report, the portal and the notification name them).
GatewayDriftCode = Literal[
    "gateway_sale_unknown_to_ledger",  # an approved sale at the gateway the ledger does not hold as succeeded
    "ledger_sale_not_at_gateway",  # succeeded in the ledger; failed, voided or missing at the gateway
    "gateway_amount_differs",  # the sale's (or its refunds') amount differs between gateway and ledger
]
BooksDriftCode = Literal[
    "accounting_payment_missing",  # applied in the ledger; no accounting payment for it (or it was deleted)
    "accounting_amount_differs",  # the accounting payment's amount or lines differ from the ledger's applications
    "psa_paid_date_differs",  # the PSA's paid date disagrees with the invoice as the ledger has it
    "paid_elsewhere_while_open",  # accounting shows the invoice paid by other means; it is open here
]
DriftCode = Literal[GatewayDriftCode, BooksDriftCode]
DRIFT_CODES: tuple[str, ...] = (*GatewayDriftCode.__args__, *BooksDriftCode.__args__)  # type: ignore[attr-defined]
BOOKS_DRIFT_CODES: tuple[str, ...] = BooksDriftCode.__args__  # type: ignore[attr-defined]
Trigger = Literal["nightly", "on_demand"]
MAX_DRIFTS_PER_EVENT = 500  # a report part larger than this says so (truncated) rather than outgrow a message


Text = Annotated[str, Field(max_length=2000)]


class Evidence(Data):
    """What each side shows, as text (amounts as decimals, dates ISO); None where a side has nothing."""

    ledger: Text | None = None
    gateway: Text | None = None
    accounting: Text | None = None
    psa: Text | None = None


class DriftData(Data):
    code: DriftCode
    organization_id: Ident | None = None
    payment_id: Ident | None = None
    invoice_id: Ident | None = None
    transaction_id: Ident | None = None  # the gateway's, for gateway drifts
    accounting_id: Ident | None = None  # the accounting object's, for books drifts
    currency: Currency | None = None
    amount: NonNegativeMoney | None = None  # the amount at stake, where one is
    summary: str = Field(max_length=500)  # one sentence for a person
    evidence: Evidence = Evidence()


class ReconciliationRequestedData(Data):
    run_id: Ident
    trigger: Trigger
    period_start: Instant  # inclusive
    period_end: Instant  # exclusive


class BooksCheckedData(Data):
    run_id: Ident
    checked_at: Instant
    payments_checked: int = Field(ge=0)
    invoices_checked: int = Field(ge=0)
    drifts: list[DriftData] = Field(default=[], max_length=MAX_DRIFTS_PER_EVENT)
    truncated: bool = False  # more drifts were found than one message carries
    failure: Text | None = None  # the books could not be checked (and why)


class ReconciliationCompletedData(Data):
    run_id: Ident
    trigger: Trigger
    period_start: Instant
    period_end: Instant
    completed_at: Instant
    drift_count: int = Field(ge=0)
    by_code: dict[str, int] = {}
    incomplete: list[str] = []  # parts that could not be checked ("gateway", "books")


class WritebackResendRequestedData(Data):
    """A person asked that sync write this payment (and its invoices' paid dates) again from the ledger's state."""

    drift_id: Ident
    payment_id: Ident | None = None
    invoice_id: Ident | None = None
    requested_by: Ident | None = None


class ReconciliationRequested(Event):
    TYPE: ClassVar[str] = "reconciliation.requested"
    event_type: Literal["reconciliation.requested"] = "reconciliation.requested"
    data: ReconciliationRequestedData


class BooksChecked(Event):
    TYPE: ClassVar[str] = "reconciliation.books_checked"
    event_type: Literal["reconciliation.books_checked"] = "reconciliation.books_checked"
    data: BooksCheckedData


class ReconciliationCompleted(Event):
    TYPE: ClassVar[str] = "reconciliation.completed"
    event_type: Literal["reconciliation.completed"] = "reconciliation.completed"
    data: ReconciliationCompletedData


class WritebackResendRequested(Event):
    TYPE: ClassVar[str] = "writeback.resend_requested"
    event_type: Literal["writeback.resend_requested"] = "writeback.resend_requested"
    data: WritebackResendRequestedData
