"""Settings of one gateway simulator instance."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class GatewaySimConfig:
    # The merchant's private key (transact.php, query.php) and public
    # tokenization key (what Collect.js would carry in the browser).
    security_key: str = "sim-private-key"
    public_key: str = "sim-public-key"
    # Where settlement and chargeback webhooks go, and the key that signs them
    # (shared with the payments service through GATEWAY_WEBHOOK_SIGNING_KEY).
    webhook_url: str = "http://localhost:8082/v1/webhooks/gateway"
    webhook_signing_key: str = "dev-signing-key"
    # How long a `tok_visa_timeout` sale holds its connection before dropping it.
    timeout_hold_seconds: float = 30.0
    # Added to every /api/ call, to make slow-gateway behaviour reproducible.
    latency_ms: int = 0
    # The real gateway's rule is not published ([?] in external-apis.md):
    # permissive by default so refunds right after a sale work in the demo.
    refund_requires_settlement: bool = False
    webhook_timeout_seconds: float = 5.0
    merchant_id: str = "900001"
    merchant_name: str = "Gateway Simulator"

    def public_view(self) -> dict[str, object]:
        """The settings without the keys, for /_sim/config."""
        view = asdict(self)
        for secret in ("security_key", "webhook_signing_key"):
            view.pop(secret)
        return view
