"""The notifications service's settings, from the environment (pydantic-settings).

Retry and polling knobs are settings so that tests can run the same code fast.
"""
from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator

from billing_shared.psa import DEFAULT_BASE_URL
from billing_shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    http_port: int = 8083

    # Email: SMTP_HOST / SMTP_PORT (`make up` passes the sink's 127.0.0.1:1025).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    # Each SMTP step (connect, every command) waits this long at most; the whole attempt is
    # bounded by DELIVERY_ATTEMPT_TIMEOUT_SECONDS.
    smtp_timeout_seconds: float = 10.0
    # Emails go over this many kept-open SMTP connections at most (one message after another on each).
    smtp_connections: int = Field(default=4, ge=1)
    email_from: str = "billing@msp.example"
    email_from_name: str = "Billing"
    # Where staff-facing types (sync, integrations) send email when their email switch is on.
    staff_email: str | None = None

    # Tickets: the Autotask API user notifications creates tickets as. No default credentials:
    # without them, ticket deliveries fail with a reason that says so.
    psa_base_url: str = DEFAULT_BASE_URL
    psa_username: str | None = None
    psa_secret: SecretStr | None = None
    psa_integration_code: str | None = None
    psa_timeout_seconds: float = 10.0
    # The shared client's own retries of idempotent calls, and the longest backoff of its request
    # budget after failures (tests shorten both). The delivery worker backs off per delivery, so
    # the client's own backoff stays short: it must fit in one attempt.
    psa_retry_attempts: int = 3
    psa_retry_base_seconds: float = 0.5
    psa_backoff_max_seconds: float = 4.0

    # The delivery worker. Each channel (email, ticket) has its own lane: it claims at most as many
    # deliveries of that channel as it attempts at once (`delivery_concurrency` for tickets, whose PSA
    # client lets 3 requests at a time through; `email_concurrency` for emails), so every claimed
    # delivery is attempted at once, and due emails never wait behind due tickets.
    delivery_poll_seconds: float = 0.5
    delivery_concurrency: int = 4
    # The email lane's own attempts at once (they share SMTP_CONNECTIONS; what an attempt waits for is
    # mostly the database and the connection, so more at once keep the connections busy).
    email_concurrency: int = Field(default=32, ge=1)
    # One attempt (SMTP, or PSA lookup and create with the client's retries) is cut off after
    # this; its outcome is then unknown and it is retried. It must be shorter than the lease.
    delivery_attempt_timeout_seconds: float = Field(default=15.0, gt=0)
    # A claimed delivery not recorded within this is taken as crashed (outcome unknown) and retried.
    delivery_lease_seconds: float = 120.0
    # Transient failures are retried with exponential backoff from RETRY_BASE_SECONDS, capped at
    # RETRY_MAX_SECONDS, until RETRY_HORIZON_SECONDS after the notification was recorded (or after
    # an admin re-drove the failed delivery); however many attempts that takes.
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 600.0
    retry_horizon_seconds: float = 48 * 3600.0
    # How long an email waits for the directory to name a recipient before it fails.
    address_wait_seconds: float = 1800.0

    # `invoice.available` is not raised for an invoice issued more than this many days before the
    # sync published it (a first full sync publishes every historical open invoice). Empty or
    # "null": no limit.
    invoice_available_max_age_days: int | None = Field(default=30, ge=0)

    # Past-due reminders: how often the pass runs, and how many days after a step its reminder may still
    # go out late (after an outage); older steps are not sent (switching on does not remind all history).
    reminder_check_seconds: float = Field(default=900.0, gt=0)
    reminder_catch_up_days: int = Field(default=3, ge=1)

    # Outbound webhooks (service/webhooks.py): one attempt waits WEBHOOK_TIMEOUT_SECONDS at most for the
    # receiver's answer; failures are retried after WEBHOOK_RETRY_BASE_SECONDS, doubling up to
    # WEBHOOK_RETRY_MAX_SECONDS, for WEBHOOK_RETRY_HORIZON_SECONDS from the first failure in a row, after
    # which the subscription is disabled. At most WEBHOOK_CONCURRENCY (subscription, organization) lanes
    # are delivered at once; the leader looks for due messages every WEBHOOK_POLL_SECONDS besides NOTIFY.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_base_seconds: float = Field(default=5.0, gt=0)
    webhook_retry_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_retry_horizon_seconds: float = Field(default=3 * 86400.0, gt=0)
    webhook_concurrency: int = Field(default=8, ge=1)
    webhook_poll_seconds: float = Field(default=1.0, gt=0)

    # Sync freshness (faust-streaming).
    freshness_enabled: bool = True
    freshness_app_id: str = "notifications-freshness"
    freshness_replication_factor: int = 1  # of the table's changelog topic
    freshness_check_seconds: float = 30.0
    # The length of one "interval minute"; only tests shorten it.
    freshness_minute_seconds: float = 60.0
    default_sync_interval_minutes: int = 60

    @field_validator("invoice_available_max_age_days", mode="before")
    @classmethod
    def _no_limit(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "null", "none"):
            return None
        return value

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> NotificationsSettings:
        if self.delivery_lease_seconds <= self.delivery_attempt_timeout_seconds:
            raise ValueError("DELIVERY_LEASE_SECONDS must be longer than DELIVERY_ATTEMPT_TIMEOUT_SECONDS: "
                             "another replica could claim a delivery while its attempt still runs")
        return self

    def psa_configured(self) -> bool:
        return bool(self.psa_username and self.psa_secret and self.psa_integration_code)
