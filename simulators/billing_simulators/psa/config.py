"""Settings of one simulated Autotask tenant.

Defaults follow external-apis.md section 1; every knob marked [T] or [?] there
is a field here so tests can change it without touching the code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_PORT = 9101


@dataclass
class PsaSimConfig:
    username: str = "api@msp.example"
    secret: str = field(default="sim-secret", repr=False)
    integration_code: str = "SIMINTEGRATIONCODE000000000000"
    # What zoneInformation and nextPageUrl point at.
    public_base_url: str = f"http://localhost:{DEFAULT_PORT}"
    # Set it to another simulator's URL to play "the tenant moved zones".
    zone_url: str | None = None
    zone_name: str = "Simulated Zone"
    page_size_max: int = 500
    # 10,000 requests per rolling hour per database [C].
    hourly_limit: int = 10_000
    # 3 simultaneous requests per entity endpoint [C].
    thread_limit: int = 3
    # Added to every API call (not zoneInformation), to make concurrency visible.
    latency_ms: int = 0
    # Latency added past 50% of the hourly limit: "about 0.5-1 s per call" [T].
    throttle_latency_ms: int = 500
    # Latency added to a call over the thread limit: amount unpublished [?].
    over_thread_latency_ms: int = 250
    # Status past 100% of the hourly limit: unpublished, no 429 documented [?].
    over_limit_status: int = 500
    # Required on ticket create: [T] list minus dueDateTime, which third-party
    # create examples omit [?].
    ticket_required_fields: tuple[str, ...] = ("companyID", "title", "status", "priority")
    # Real clients always send a filter (AT-DJ sends "id gt 0"); an empty one is
    # rejected here so a client that forgets it fails early [?].
    require_filter: bool = True
    # At most 500 OR conditions per query [C for SOAP, ? for REST].
    max_or_conditions: int = 500
    # The API user's own resource id: creatorResourceID of what it creates
    # unless ImpersonationResourceId names another resource.
    api_resource_id: int = 29682885
    # Every Autotask instance has the MSP's own company ("your local organization",
    # the "zero company") with id 0, created with the instance and never deleted
    # [C: autotask.net help, Companies/_InternalAccount.htm]. Tickets about no
    # client go there. None: a tenant without it (a test of a company that is gone).
    local_company_name: str | None = "Our MSP (local organization)"

    @property
    def zone_base(self) -> str:
        return (self.zone_url or self.public_base_url).rstrip("/")

    @property
    def own_base(self) -> str:
        return self.public_base_url.rstrip("/")

    # Knobs a test may change at runtime through POST /_sim/config.
    TUNABLE = (
        "zone_url", "zone_name", "page_size_max", "hourly_limit", "thread_limit",
        "latency_ms", "throttle_latency_ms", "over_thread_latency_ms",
        "over_limit_status", "require_filter", "max_or_conditions",
    )

    def public_view(self) -> dict:
        """The settings minus the secret, for /_sim/config."""
        view = {name: getattr(self, name) for name in self.TUNABLE}
        view.update(username=self.username, integration_code=self.integration_code,
                    public_base_url=self.public_base_url,
                    ticket_required_fields=list(self.ticket_required_fields))
        return view
