"""`make up` / `make down`: the whole system in the background, on its defaults or on the Kafka and
Postgres the environment names. State lives in .run/state.json so `down` stops exactly what `up` started.

The demo world outlives `make down` as a whole: the database keeps its data in .cache/postgres, and
the PSA, accounting and gateway simulators keep theirs in .cache/simulators/ (SIMULATORS_DATA_DIR),
so the next `make up` goes on with the same invoices, accounting ids and numbers. `make clean`
forgets both together."""
from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from billing_shared.kafka.topics import TopicNames, ensure_topics

from .kafka import KafkaBroker, wait_until_ready
from .paths import CACHE, RUN
from .ports import port_open
from .postgres import PostgresServer
from .processes import Managed, start_python, stop_process_group, wait_healthy

STATE = RUN / "state.json"
MARKER = "BILLING_DEVSTACK_ROOT"
DEMO_TOKENS = [
    {"token": "demo-admin-token", "role": "admin"},
    {"token": "demo-manager-token", "role": "manager"},
    {"token": "demo-client-token", "role": "client", "organization_id": "autotask:678", "contact_id": "autotask:901"},
]


def _port(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass(frozen=True)
class Ports:
    kafka: int = _port("KAFKA_PORT", 9092)
    kafka_controller: int = _port("KAFKA_CONTROLLER_PORT", 9093)
    postgres: int = _port("POSTGRES_PORT", 54320)
    sync: int = _port("SYNC_PORT", 8081)
    payments: int = _port("PAYMENTS_PORT", 8082)
    notifications: int = _port("NOTIFICATIONS_PORT", 8083)
    portal: int = _port("PORTAL_PORT", 8080)
    psa: int = _port("PSA_SIM_PORT", 9101)
    accounting: int = _port("ACCOUNTING_SIM_PORT", 9102)
    gateway: int = _port("GATEWAY_SIM_PORT", 9103)
    smtp: int = _port("SMTP_SINK_PORT", 1025)
    smtp_http: int = _port("SMTP_SINK_HTTP_PORT", 9104)


def _dev_key(variable: str, file_name: str, make: Callable[[], str]) -> str:
    """A key from the environment, or one made once for development and kept beside the dev database."""
    if os.environ.get(variable):
        return os.environ[variable]
    path = CACHE / file_name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _secrets_key() -> str:
    """The key that encrypts secrets at rest."""
    from billing_shared.secrets import new_key

    return _dev_key("SECRETS_KEY", "dev-secrets.key", new_key)


def _identity_key() -> str:
    """The key the portal signs people's identities with, and the services verify them with."""
    return _dev_key("IDENTITY_KEY", "dev-identity.key", lambda: secrets.token_urlsafe(48))


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


async def up() -> int:
    if STATE.exists():
        state = json.loads(STATE.read_text())
        if all(psutil.pid_exists(pid) for pid in state["pids"].values()):
            print("already up")
            _print_summary(state)
            return 0
        await asyncio.to_thread(down)
    ports = Ports()
    RUN.mkdir(parents=True, exist_ok=True)
    logs = RUN / "logs"
    state: dict = {"pids": {}, "postgres_data": None, "urls": {}}
    started: list[Managed] = []
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            if port_open(ports.kafka):
                raise SystemExit(f"port {ports.kafka} is taken: stop what uses it, or set KAFKA_PORT or "
                                 "KAFKA_BOOTSTRAP_SERVERS")
            home = Path(os.environ.get("KAFKA_DATA_DIR", CACHE / "kafka" / "broker"))
            home.mkdir(parents=True, exist_ok=True)
            broker = KafkaBroker(home, port=ports.kafka, controller_port=ports.kafka_controller)
            process = broker.start()
            state["pids"]["kafka"] = process.pid
            bootstrap = broker.bootstrap
        database_url = os.environ.get("DATABASE_URL")
        if not database_url:
            postgres = PostgresServer(Path(os.environ.get("POSTGRES_DATA_DIR", CACHE / "postgres" / "data")),
                                      port=ports.postgres)
            postgres.start()
            state["postgres_data"] = str(postgres.data_dir)
            state["postgres_port"] = ports.postgres
            database_url = postgres.create_database("billing")
        print(f"waiting for Kafka at {bootstrap} ...", flush=True)
        await wait_until_ready(bootstrap, timeout=120)
        await ensure_topics(bootstrap, TopicNames(os.environ.get("KAFKA_TOPIC_PREFIX", "")).all())

        env = _service_env(ports, bootstrap, database_url)
        started += _start_simulators(ports, env, logs)
        for name, module, port in (("sync", "billing_sync", ports.sync), ("payments", "billing_payments", ports.payments),
                                   ("notifications", "billing_notifications", ports.notifications)):
            started.append(start_python(name, module, env={**env, "HTTP_PORT": str(port)}, log_dir=logs,
                                        health_url=f"http://127.0.0.1:{port}/health"))
            state["urls"][name] = f"http://127.0.0.1:{port}"
        started.append(start_python("portal", "billing_portal", env={**env, "HTTP_PORT": str(ports.portal)},
                                    log_dir=logs, health_url=f"http://127.0.0.1:{ports.portal}/health"))
        state["urls"]["portal"] = f"http://127.0.0.1:{ports.portal}"
        for m in started:
            state["pids"][m.name] = m.process.pid
        STATE.write_text(json.dumps(state, indent=2))
        await _wait_ports([(m, int(m.name.split(":")[1])) for m in started if ":" in m.name])
        await wait_healthy(started, timeout=120)
        demo_line = await _demo(state, env, ports)
    except BaseException:
        STATE.write_text(json.dumps(state, indent=2))
        print(f"make up failed; logs are in {logs}. Stopping what was started.")
        await asyncio.to_thread(down)
        raise
    state["kafka"], state["database_url"] = bootstrap, database_url
    state["tokens"] = json.loads(env["API_TOKENS"])
    STATE.write_text(json.dumps(state, indent=2))
    _print_summary(state)
    if demo_line:
        print(demo_line)
    return 0


async def _demo(state: dict, env: dict[str, str], ports: Ports) -> str | None:
    """The demo world (DEMO=0 skips it), through the simulators' control surface and the services' APIs."""
    if os.environ.get("DEMO", "1") == "0":
        return None
    admin = next((t["token"] for t in json.loads(env["API_TOKENS"]) if t.get("role") == "admin"), None)
    if admin is None:
        return "demo world skipped: API_TOKENS has no admin token"
    from .demo import seed

    print("seeding the demo world and running its first sync ...", flush=True)
    urls = {**state["urls"], "psa": f"http://127.0.0.1:{ports.psa}", "accounting": f"http://127.0.0.1:{ports.accounting}"}
    return await seed(urls, admin)


def _service_env(ports: Ports, bootstrap: str, database_url: str) -> dict[str, str]:
    return {
        MARKER: str(RUN.parent),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "API_TOKENS": os.environ.get("API_TOKENS") or json.dumps(DEMO_TOKENS),
        "SECRETS_KEY": _secrets_key(),
        "IDENTITY_KEY": _identity_key(),
        "SYNC_URL": f"http://127.0.0.1:{ports.sync}",
        "PAYMENTS_URL": f"http://127.0.0.1:{ports.payments}",
        "NOTIFICATIONS_URL": f"http://127.0.0.1:{ports.notifications}",
        "GATEWAY_WEBHOOK_SIGNING_KEY": os.environ.get("GATEWAY_WEBHOOK_SIGNING_KEY", "dev-signing-key"),
        "GATEWAY_WEBHOOK_URL": f"http://127.0.0.1:{ports.payments}/v1/webhooks/gateway",
        "GATEWAY_BASE_URL": f"http://127.0.0.1:{ports.gateway}",
        # the simulator answers at once or never (tok_visa_timeout): a short wait, a quick reconcile
        "GATEWAY_TIMEOUT_SECONDS": os.environ.get("GATEWAY_TIMEOUT_SECONDS", "3"),
        "PENDING_GRACE_SECONDS": os.environ.get("PENDING_GRACE_SECONDS", "8"),
        "RECONCILE_INTERVAL_SECONDS": os.environ.get("RECONCILE_INTERVAL_SECONDS", "1"),
        "PSA_BASE_URL": f"http://127.0.0.1:{ports.psa}/atservicesrest/",
        # notifications creates tickets with these; defaults are the PSA simulator's credentials
        "PSA_USERNAME": os.environ.get("PSA_USERNAME", "api@msp.example"),
        "PSA_SECRET": os.environ.get("PSA_SECRET", "sim-secret"),
        "PSA_INTEGRATION_CODE": os.environ.get("PSA_INTEGRATION_CODE", "SIMINTEGRATIONCODE000000000000"),
        "ACCOUNTING_BASE_URL": f"http://127.0.0.1:{ports.accounting}",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(ports.smtp),
    }


def simulators_data_dir() -> Path:
    """Where the simulators keep their world between `make up`s (beside the database's)."""
    return Path(os.environ.get("SIMULATORS_DATA_DIR") or CACHE / "simulators")


def _start_simulators(ports: Ports, env: dict[str, str], logs: Path) -> list[Managed]:
    data = ["--data-dir", str(simulators_data_dir())]
    sims = [
        ("psa", "billing_simulators.psa", ports.psa, ["--port", str(ports.psa), *data]),
        ("accounting", "billing_simulators.accounting", ports.accounting, ["--port", str(ports.accounting), *data]),
        ("gateway", "billing_simulators.gateway", ports.gateway, ["--port", str(ports.gateway), *data]),
        ("smtp", "billing_simulators.smtp_sink", ports.smtp,
         ["--smtp-port", str(ports.smtp), "--http-port", str(ports.smtp_http)]),
    ]
    started = []
    for name, module, port, args in sims:
        if not _available(module):
            continue
        if port_open(port):
            raise SystemExit(f"port {port} for the {name} simulator is taken")
        started.append(start_python(f"sim:{port}:{name}", module, *args, env=env, log_dir=logs))
    return started


async def _wait_ports(pairs: list[tuple[Managed, int]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for managed, port in pairs:
        while not port_open(port):
            if managed.process.poll() is not None:
                raise RuntimeError(f"{managed.name} exited; see {managed.log_file}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{managed.name} did not open port {port}")
            await asyncio.sleep(0.1)


def _print_summary(state: dict) -> None:
    print("\nbilling-link is up")
    for name, url in state.get("urls", {}).items():
        print(f"  {name:<14} {url}   (health: {url}/health, API docs: {url}/openapi.json)")
    for name in state.get("pids", {}):
        if name.startswith("sim:"):
            _, port, sim = name.split(":")
            where = f"smtp://127.0.0.1:{port}, messages at http://127.0.0.1:{Ports().smtp_http}/_sim/messages" \
                if sim == "smtp" else f"http://127.0.0.1:{port}"
            print(f"  {sim + ' sim':<14} {where}")
    print(f"  kafka          {state.get('kafka')}\n  postgres       {state.get('database_url')}")
    print("demo tokens (Authorization: Bearer <token>):")
    for t in state.get("tokens", []):
        bound = f" organization {t['organization_id']}, contact {t.get('contact_id')}" if t.get("organization_id") else ""
        print(f"  {t['role']:<8} {t['token']}{bound}")
    print("demo sign-ins at the portal (password demo-password unless PORTAL_USERS says otherwise):")
    if os.environ.get("PORTAL_USERS"):
        print("  the users of PORTAL_USERS")
    else:
        for email, who in (("admin@msp.example", "admin"), ("manager@msp.example", "manager"),
                           ("pat@acme.example", "client of autotask:678, contact autotask:901")):
            print(f"  {email:<22} {who}")
    print(f"simulator state: {simulators_data_dir()} (kept across make down/up, like the database; "
          "make clean starts a fresh world)")
    print("logs: .run/logs/   stop everything: make down")


def down() -> int:
    state = json.loads(STATE.read_text()) if STATE.exists() else {"pids": {}}
    order = sorted(state["pids"].items(), key=lambda kv: kv[0] == "kafka")  # Kafka last
    for name, pid in order:
        stop_process_group(pid, timeout=30)
    if state.get("postgres_data"):
        PostgresServer(Path(state["postgres_data"]), port=state.get("postgres_port", 0)).stop()
    _sweep()
    STATE.unlink(missing_ok=True)
    print("billing-link is down")
    return 0


def _sweep() -> None:
    """Whatever carries our marker and is still alive (a child of a child) is stopped too."""
    root = str(RUN.parent)
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.pid != os.getpid() and proc.environ().get(MARKER) == root:
                proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
