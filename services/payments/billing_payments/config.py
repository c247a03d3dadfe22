from pydantic import SecretStr

from billing_shared.settings import ServiceSettings


class PaymentsSettings(ServiceSettings):
    http_port: int = 8082
    gateway_base_url: str = "https://secure.bngpaymentgateway.com"
    gateway_timeout_seconds: float = 10.0
    # Shared with the gateway; without it every webhook is refused (make up passes dev-signing-key).
    gateway_webhook_signing_key: SecretStr | None = None
    reconcile_interval_seconds: float = 5.0
    # A pending payment older than this is resolved by asking the gateway (default: 2 x timeout + 5 s).
    pending_grace_seconds: float | None = None
    # Tests only: exit the process right after the gateway approves a sale, before it is recorded.
    test_crash_after_sale: bool = False

    @property
    def pending_grace(self) -> float:
        return self.pending_grace_seconds if self.pending_grace_seconds is not None \
            else 2 * self.gateway_timeout_seconds + 5
