"""Where the services and Kafka are: the environment, with defaults that match `make up`, and flags over it."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

SERVICE_PORTS = {"sync": 8081, "payments": 8082, "notifications": 8083, "portal": 8080}
SIMULATOR_PORTS = {"psa": 9101, "accounting": 9102, "gateway": 9103}


def _default_token() -> str:
    """The admin token `make up` configures when API_TOKENS does not name others (deploy/devstack)."""
    from devstack.stack import DEMO_TOKENS

    return next(t["token"] for t in DEMO_TOKENS if t["role"] == "admin")


@dataclass(frozen=True)
class Config:
    urls: dict[str, str]  # sync, payments, notifications, portal, and the simulators psa, accounting, gateway
    kafka: str
    topic_prefix: str
    token: str
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Config:
        env = dict(os.environ if env is None else env)
        urls = {name: env.get(f"{name.upper()}_URL") or f"http://127.0.0.1:{port}"
                for name, port in SERVICE_PORTS.items()}
        urls |= {name: env.get(f"{name.upper()}_SIM_URL") or f"http://127.0.0.1:{port}"
                 for name, port in SIMULATOR_PORTS.items()}
        return cls(urls={k: v.rstrip("/") for k, v in urls.items()},
                   kafka=env.get("KAFKA_BOOTSTRAP_SERVERS") or "localhost:9092",
                   topic_prefix=env.get("KAFKA_TOPIC_PREFIX", ""),
                   token=env.get("BILLING_LINK_TOKEN") or _default_token())

    def override(self, *, urls: dict[str, str | None], kafka: str | None, topic_prefix: str | None,
                 token: str | None) -> Config:
        """The flags given on the command line win over the environment."""
        given = {k: v.rstrip("/") for k, v in urls.items() if v}
        return replace(self, urls={**self.urls, **given}, kafka=kafka or self.kafka,
                       topic_prefix=self.topic_prefix if topic_prefix is None else topic_prefix,
                       token=token or self.token)
