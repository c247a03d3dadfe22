"""Settings of the accounting simulator; the defaults are the ones CONTRACT.md publishes."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


@dataclass
class AccountingSimConfig:
    realm_id: str = "sim-realm"
    client_id: str = "sim-client"
    client_secret: str = "sim-client-secret"
    refresh_token: str = "sim-refresh-token"
    access_token_ttl_seconds: float = 3600.0
    # Intuit quotes about 100 days, rolling (external-apis.md 2.2).
    refresh_token_ttl_seconds: float = 8_726_400.0
    # After a rotation the previous refresh token keeps working this long, so a
    # caller that crashed before storing the new one is not locked out at once.
    refresh_token_grace_seconds: float = 60.0
    rate_limit_per_minute: int = 500
    rate_limit_per_second: int = 10
    # Batch (external-apis.md 2.10): 40 batch requests a minute per realm and app, at most 30 items each.
    rate_limit_batch_per_minute: int = 40
    batch_max_items: int = 30
    latency_ms: int = 0
    first_doc_number: int = 1001
    cdc_max_objects: int = 1000
    cdc_max_days: int = 30

    # Fields that `PUT /_sim/config` may change while the simulator runs.
    RUNTIME_FIELDS = (
        "access_token_ttl_seconds",
        "refresh_token_ttl_seconds",
        "refresh_token_grace_seconds",
        "rate_limit_per_minute",
        "rate_limit_per_second",
        "rate_limit_batch_per_minute",
        "batch_max_items",
        "latency_ms",
        "cdc_max_objects",
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> AccountingSimConfig:
        """Every field can be set as ACCOUNTING_SIM_<FIELD NAME IN CAPITALS>."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = env.get(f"ACCOUNTING_SIM_{field.name.upper()}")
            if raw is None:
                continue
            values[field.name] = cls.coerce(field.name, raw)
        if "ACCOUNTING_SIM_REALM" in env:
            values["realm_id"] = env["ACCOUNTING_SIM_REALM"]
        return cls(**values)

    @classmethod
    def coerce(cls, name: str, value: object) -> object:
        """A value from the environment or JSON, as the type the field holds."""
        default = next(f.default for f in fields(cls) if f.name == name)
        return type(default)(value)

    def public_view(self) -> dict[str, object]:
        """What `GET /_sim/config` shows: everything but the secrets."""
        view = {f.name: getattr(self, f.name) for f in fields(self)}
        view["client_secret"] = view["refresh_token"] = "****"
        return view
