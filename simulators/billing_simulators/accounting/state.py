"""Everything one running simulator holds, under one application key."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from aiohttp import web

from .books import Books
from .config import AccountingSimConfig
from .oauth import TokenAuthority
from .rules import EntityRules
from .rules_invoice import InvoiceRules
from .rules_journal import JournalEntryRules
from .rules_lists import AccountRules, CustomerRules, ItemRules
from .rules_payment import PaymentRules
from .rules_refund import RefundReceiptRules
from .traffic import FaultInjector, RateLimiter, RequestCounter


def entity_rules() -> dict[str, EntityRules]:
    # Order matters: seeds are created in this order (Items refer to Accounts).
    return {
        "Account": AccountRules(),
        "Item": ItemRules(),
        "Customer": CustomerRules(),
        "Invoice": InvoiceRules(),
        "Payment": PaymentRules(),
        "RefundReceipt": RefundReceiptRules(),
        "JournalEntry": JournalEntryRules(),
    }


# Path segment (`/v3/company/{realm}/invoice`) -> entity name.
ENTITY_BY_PATH = {name.lower(): name for name in entity_rules()}


@dataclass
class SimState:
    config: AccountingSimConfig
    initial_config: AccountingSimConfig
    books: Books
    tokens: TokenAuthority
    limiter: RateLimiter
    faults: FaultInjector = field(default_factory=FaultInjector)
    requests: RequestCounter = field(default_factory=RequestCounter)
    elsewhere_payments: int = 0
    # QuickBooks Online's `requestid`: a write sent again with the same id (per company) gets the first answer
    # and changes nothing (Intuit, "Request ID"; at most 50 characters). Kept for the simulator's lifetime.
    answered: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def create(cls, config: AccountingSimConfig) -> SimState:
        live = dataclasses.replace(config)  # PUT /_sim/config changes this copy only
        return cls(
            config=live,
            initial_config=config,
            books=Books(entity_rules(), live.first_doc_number),
            tokens=TokenAuthority(live),
            limiter=RateLimiter(live),
        )

    def reset(self) -> None:
        """Empty books, no faults, no counts, the starting config; issued tokens stay valid."""
        for name in AccountingSimConfig.RUNTIME_FIELDS:
            setattr(self.config, name, getattr(self.initial_config, name))
        self.books = Books(entity_rules(), self.config.first_doc_number)
        self.limiter.reset()
        self.faults.reset()
        self.requests.reset()
        self.elsewhere_payments = 0
        self.answered.clear()


SIM_STATE = web.AppKey("accounting_sim_state", SimState)
