from pydantic import SecretStr

from billing_shared.settings import ServiceSettings


class PaymentsSettings(ServiceSettings):
    http_port: int = 8082
    gateway_base_url: str = "https://secure.bngpaymentgateway.com"
    gateway_timeout_seconds: float = 10.0
    # Where browsers load the gateway's Collect.js (its public origin); the base URL when not set.
    gateway_public_url: str | None = None
    # Shared with the gateway; without it every webhook is refused (make up passes dev-signing-key).
    gateway_webhook_signing_key: SecretStr | None = None
    reconcile_interval_seconds: float = 5.0
    # A pending payment older than this is resolved by asking the gateway (default: 2 x timeout + 5 s).
    pending_grace_seconds: float | None = None
    # An Idempotency-Key claimed by a request that has recorded no payment yet is held this long; then a
    # retry of the same request takes it over (the first one crashed or hangs before the sale).
    idempotency_claim_lease_seconds: float = 5.0
    # Reconciliation: how often a replica looks for work, the hour (UTC) after which last night's run is
    # started, how long sync has to answer the books part, and how long a replica may hold a gateway check.
    reconciliation_poll_seconds: float = 5.0
    reconciliation_nightly_hour_utc: int = 2
    reconciliation_nightly_enabled: bool = True
    reconciliation_books_wait_seconds: float = 1800.0
    reconciliation_claim_lease_seconds: float = 600.0
    # Tests only: exit the process right after the gateway approves a sale, before it is recorded.
    test_crash_after_sale: bool = False
    # Tests only: exit the process right after the Idempotency-Key is claimed, before the payment is recorded.
    test_crash_after_claim: bool = False
    # Autopay: how often the leader looks for due invoices (it is woken at once when a charge is decided), the
    # days after a decline at which attempt 2, 3, ... are made (then it gives up), the days before the charge
    # day that autopay.upcoming is sent, and how long a balance check may go unanswered before it is asked again.
    autopay_interval_seconds: float = 60.0
    autopay_retry_days: tuple[float, ...] = (1.0, 3.0, 7.0)
    autopay_notice_days: int = 3
    autopay_check_timeout_seconds: float = 300.0

    @property
    def pending_grace(self) -> float:
        return self.pending_grace_seconds if self.pending_grace_seconds is not None \
            else 2 * self.gateway_timeout_seconds + 5
