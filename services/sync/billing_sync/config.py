"""The sync service's settings, from the environment (see ServiceSettings for the shared ones)."""
from __future__ import annotations

from billing_shared.settings import ServiceSettings


class SyncSettings(ServiceSettings):
    http_port: int = 8081
    # Defaults for integration bodies that omit `base_url` (`make up` points them at the simulators).
    psa_base_url: str | None = None
    accounting_base_url: str | None = None
    # The QuickBooks OAuth token URL; derived from the accounting base URL when not set.
    quickbooks_token_url: str | None = None
    # Incremental runs look back this far before the last change they saw (clock skew between systems).
    sync_overlap_minutes: float = 5.0
    # How often the scheduler looks for runs that are due or orphaned (a crashed process's run).
    scheduler_tick_seconds: float = 5.0
    # Autotask limits [C]: share of the 10,000 requests an hour kept for people and other integrations.
    psa_hourly_limit: int = 10_000
    psa_reserve: int = 500
    psa_max_concurrent: int = 3
    # QuickBooks asks for 60 s after a 429.
    quickbooks_throttle_wait_seconds: float = 60.0
    # Payment write-back retries: first delay, doubling up to the cap.
    writeback_retry_seconds: float = 2.0
    writeback_retry_max_seconds: float = 900.0
    writeback_poll_seconds: float = 2.0
