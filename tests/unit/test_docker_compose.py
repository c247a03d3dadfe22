"""docker-compose.yml cannot run here (no Docker engine), so its shape is checked against CONTRACT.md."""
from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]

CONTRACT_PORTS = {
    "portal": [8080], "sync": [8081], "payments": [8082], "notifications": [8083], "psa-sim": [9101], "accounting-sim": [9102],
    "gateway-sim": [9103], "smtp-sink": [1025, 9104], "kafka": [9092],
}
PACKAGES = {"sync": ("services/sync", "billing_sync"), "payments": ("services/payments", "billing_payments"),
            "notifications": ("services/notifications", "billing_notifications"),
            "portal": ("services/portal", "billing_portal")}


def published_ports(service: dict) -> list[int]:
    return [int(str(p).split(":")[0]) for p in service.get("ports", [])]


def test_every_contract_process_is_there_on_its_contract_port():
    for name, ports in CONTRACT_PORTS.items():
        assert published_ports(COMPOSE[name]) == ports, name
    assert COMPOSE["postgres"]["image"].startswith("postgres:")
    assert COMPOSE["kafka"]["image"].startswith("apache/kafka:4")
    assert COMPOSE["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_each_service_is_its_own_image_with_the_environment_the_contract_names():
    for name, (package, module) in PACKAGES.items():
        service = COMPOSE[name]
        assert service["build"]["args"] == {"PACKAGE": package, "MODULE": module}
        assert (ROOT / service["build"]["dockerfile"]).exists() and (ROOT / package / "pyproject.toml").exists()
        env = service["environment"]
        for key in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "API_TOKENS", "SECRETS_KEY", "IDENTITY_KEY",
                    "GATEWAY_WEBHOOK_SIGNING_KEY"):
            assert key in env, f"{name} lacks {key}"
        assert env["HTTP_PORT"] == str(CONTRACT_PORTS[name][0])
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:19092"
        assert set(service["depends_on"]) == {"kafka", "postgres"}


def test_the_gateway_simulator_signs_webhooks_with_the_key_payments_checks():
    gateway = COMPOSE["gateway-sim"]["environment"]
    assert gateway["GATEWAY_WEBHOOK_URL"] == "http://payments:8082/v1/webhooks/gateway"
    assert gateway["GATEWAY_WEBHOOK_SIGNING_KEY"] == COMPOSE["payments"]["environment"]["GATEWAY_WEBHOOK_SIGNING_KEY"]


def test_simulators_run_the_modules_that_exist():
    import importlib.util

    for name in ("psa-sim", "accounting-sim", "gateway-sim", "smtp-sink"):
        module = COMPOSE[name]["environment"]["MODULE"]
        assert importlib.util.find_spec(module) is not None, module
