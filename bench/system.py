"""The whole system, as `make up` runs it, paid through the public surface: what a completed payment
costs and how fast payments complete.

    make bench BENCH=system [BENCH_ARGS="--payments 1500 --concurrency 50"]
    (or: .venv/bin/python bench/system.py --payments 1500 --concurrency 50)
    .venv/bin/python bench/system.py --payments 600 --rate 10      (the write-back at 10 payments/s sustained)

What runs: its own Kafka broker (make up's settings) and durable Postgres (fsync on), the PSA,
accounting and gateway simulators and the SMTP sink as processes (each with a data folder, as make up
keeps them), and sync, payments, notifications and the portal with make up's environment (ports free,
all in a temporary folder: a running `make up` is never touched). QuickBooks and Autotask are connected
through sync's API, so payments are written back to both; notifications sends payment.succeeded as an
email (SMTP sink) and, switched on here through its settings API, as a ticket (the PSA simulator, with
make up's PSA credentials, as the e2e tests connect it).

World: 50 organizations with a billing contact, and --payments + a warm-up's open invoices, numbered in
the PSA and in accounting alike (the accounting simulator's company file is written before it starts,
in its own snapshot format; one sync run links them by number): issued 60 days ago so none is
announced, due in 30 days so none is reminded.

Load: one process, aiohttp on uvloop, --concurrency callers posting `POST /v1/payments` (a
`tok_visa_approved` token, each invoice paid in full once) until --payments are answered. A small
warm-up goes first and is waited for (completed and written back), so the timed window starts warm.

Figures (the timed window starts with the first timed request):
- completed payments/s: completed = approved (201, succeeded), its email in the SMTP sink and its
  ticket in the PSA simulator; the rate is payments / (last completion - start). Times of arrival
  are the simulators' own stamps (sink `received_at` and ticket `createDate` to the millisecond,
  accounting `MetaData.CreateTime` to the microsecond), on this host's clock like the approval's, so
  the latencies below are precise to about 1 ms; polling (every second, only once the load is over)
  decides only when to stop looking.
- the payment API's p50/p99 (request sent -> 201 read);
- approval -> email p99 (the 201 read -> the sink's `received_at`), and approval -> ticket p99;
- accounting write-back: payments written back per second (payments / (last CreateTime - start)) and
  approval -> accounting p50/p99, followed until every payment is in the books (GET /_sim/payments,
  matched by the write-back's PrivateNote marker) or --drain-limit seconds after the load;
- CPU milliseconds per completed payment of each process: utime + stime from /proc/<pid>/stat before
  and after (for a process tree such as Postgres', every live process of the tree plus what the root
  reaped; 10 ms ticks), from the start until every payment completed, with the share of a core that
  was; beside it each one's share of a core over 10 s of nothing before the load (the broker's and
  the services' polling loops) and after completion while the write-back drained. The load generator
  is this process (its own time only, polling the simulators included).
- peak RSS of each service (VmHWM from /proc/<pid>/status) at the end.
The last line is one JSON object with every figure.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from billing_shared.kafka.topics import TopicNames, ensure_topics
from billing_shared.secrets import new_key
from billing_simulators.accounting import snapshot as accounting_snapshot
from billing_simulators.accounting.config import AccountingSimConfig
from billing_simulators.accounting.state import SimState
from billing_simulators.persistence import Snapshots
from devstack.demo import Demo
from devstack.kafka import KafkaBroker, wait_until_ready
from devstack.ports import free_port
from devstack.postgres import PostgresServer
from devstack.processes import Managed, start_python, wait_healthy
from devstack.stack import DEMO_TOKENS, MARKER, Ports, _service_env, _start_simulators

ORGANIZATIONS = 50
WARM_UP = 20
IDLE_SECONDS = 10.0
ADMIN = next(t["token"] for t in DEMO_TOKENS if t["role"] == "admin")
MANAGER = next(t["token"] for t in DEMO_TOKENS if t["role"] == "manager")
PAYMENT_ID = re.compile(r"Payment ID: ([0-9a-f-]{36})")
ACCOUNTING_MARKER = re.compile(r"billing-link payment ([0-9a-f-]{36})")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- CPU from /proc ----------------------------------------------------------------------------------
def parse_stat(line: str) -> tuple[int, int, int]:
    """(ppid, own ticks utime+stime, reaped children's ticks cutime+cstime) of one /proc/<pid>/stat
    line. The command name may hold spaces and parentheses, so fields count from the last ')'."""
    fields = line[line.rindex(")") + 2:].split()
    # fields[0] is the state (field 3); ppid is field 4, utime..cstime are fields 14..17
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


def read_stats(proc: Path = Path("/proc")) -> dict[int, tuple[int, int, int]]:
    stats = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = parse_stat((entry / "stat").read_text())
            except (OSError, ValueError):
                continue  # gone since the listing
    return stats


def tree_ticks(root: int, stats: dict[int, tuple[int, int, int]], with_children: bool = True) -> int:
    """Ticks of `root` and, with children, of every live descendant plus what `root` has reaped
    (a backend that exited between two readings still counts, in its parent's cutime)."""
    if root not in stats:
        return 0
    if not with_children:
        return stats[root][1]
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in stats.items():
        children.setdefault(ppid, []).append(pid)
    total, todo = stats[root][1] + stats[root][2], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        total += stats[pid][1]
        todo += children.get(pid, [])
    return total


@dataclass
class CpuSample:
    """CPU seconds of each named process tree at one moment."""
    seconds: dict[str, float]

    @classmethod
    def take(cls, pids: dict[str, int]) -> CpuSample:
        stats = read_stats()
        me = os.getpid()
        return cls({name: tree_ticks(pid, stats, with_children=pid != me) / CLOCK_TICKS for name, pid in pids.items()})

    def minus(self, earlier: CpuSample) -> dict[str, float]:
        return {name: self.seconds[name] - earlier.seconds.get(name, 0.0) for name in self.seconds}


def peak_rss_mb(pid: int, proc: Path = Path("/proc")) -> float | None:
    """The process's peak resident set (VmHWM) in MB, or None when it is gone."""
    try:
        status = (proc / str(pid) / "status").read_text()
    except OSError:
        return None
    kb = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), None)
    return round(kb / 1024, 1) if kb is not None else None


# -- the stack ---------------------------------------------------------------------------------------
@dataclass
class Stack:
    home: Path
    ports: Ports
    bootstrap: str = ""
    database_url: str = ""
    postgres: PostgresServer | None = None
    kafka: Any = None
    processes: dict[str, Managed] = field(default_factory=dict)

    def url(self, name: str) -> str:
        port = {"psa": self.ports.psa, "accounting": self.ports.accounting, "gateway": self.ports.gateway,
                "smtp": self.ports.smtp_http, "sync": self.ports.sync, "payments": self.ports.payments,
                "notifications": self.ports.notifications, "portal": self.ports.portal}[name]
        return f"http://127.0.0.1:{port}"

    def pids(self) -> dict[str, int]:
        pids = {name: m.process.pid for name, m in self.processes.items()}
        pids["postgres"] = int((self.postgres.data_dir / "postmaster.pid").read_text().split()[0])  # type: ignore[union-attr]
        pids["kafka"] = self.kafka.pid
        pids["load generator"] = os.getpid()
        return pids

    def stop(self) -> None:
        for managed in self.processes.values():
            managed.stop(timeout=15)
        if self.kafka is not None:
            self.kafka.terminate()
            self.kafka.wait(30)
        if self.postgres is not None:
            self.postgres.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def free_ports() -> Ports:
    names = ("kafka", "kafka_controller", "postgres", "sync", "payments", "notifications", "portal", "psa",
             "accounting", "gateway", "smtp", "smtp_http")
    return Ports(**{name: free_port() for name in names})


async def start_stack(stack: Stack, world: World) -> None:
    """Broker, durable Postgres, simulators (the accounting one from the seeded company file), then the
    services, each with make up's environment."""
    broker = KafkaBroker(stack.home / "kafka", port=stack.ports.kafka, controller_port=stack.ports.kafka_controller)
    (stack.home / "kafka").mkdir(parents=True)
    stack.kafka = broker.start()
    stack.bootstrap = broker.bootstrap
    stack.postgres = PostgresServer(stack.home / "postgres" / "data", port=stack.ports.postgres)
    await asyncio.to_thread(stack.postgres.start)
    stack.database_url = await asyncio.to_thread(stack.postgres.create_database, "billing")
    await wait_until_ready(stack.bootstrap, timeout=120, process=stack.kafka)
    await ensure_topics(stack.bootstrap, TopicNames("").all())
    env = {k: v for k, v in _service_env(stack.ports, stack.bootstrap, stack.database_url).items() if k != MARKER}
    write_accounting_books(stack.home / "simulators", world)
    logs = stack.home / "logs"
    for managed in _start_simulators(stack.ports, env, logs):
        stack.processes[managed.name.split(":")[2] + " sim"] = managed
    for name, module in (("sync", "billing_sync"), ("payments", "billing_payments"),
                         ("notifications", "billing_notifications"), ("portal", "billing_portal")):
        port = stack.url(name).rsplit(":", 1)[1]
        stack.processes[name] = start_python(name, module, env={**env, "HTTP_PORT": port}, log_dir=logs,
                                             health_url=f"{stack.url(name)}/health")
    await wait_healthy(list(stack.processes.values()), timeout=180)


# -- the world ---------------------------------------------------------------------------------------
@dataclass
class World:
    invoices: int
    issued: date = field(default_factory=lambda: date.today() - timedelta(days=60))

    def company(self, org: int) -> dict[str, Any]:
        return {"id": 10_000 + org, "companyName": f"Bench Organization {org}"}

    def contact_id(self, org: int) -> int:
        return 20_000 + org

    def invoice(self, n: int) -> dict[str, Any]:
        return {"id": 5_000_000 + n, "companyID": 10_000 + n % ORGANIZATIONS, "invoiceNumber": str(100_000 + n),
                "invoiceTotal": float(100 + n % 900), "invoiceDateTime": f"{self.issued}T00:00:00",
                "dueDate": f"{date.today() + timedelta(days=30)}T00:00:00"}

    def psa_bulk(self) -> dict[str, list[dict[str, Any]]]:
        contacts = [{"id": self.contact_id(o), "companyID": 10_000 + o, "firstName": "Accounts", "lastName": str(o),
                     "emailAddress": f"ap{o}@bench.example", "isActive": 1, "primaryContact": True,
                     "billingContact": True} for o in range(ORGANIZATIONS)]
        return {"companies": [self.company(o) for o in range(ORGANIZATIONS)], "contacts": contacts,
                "invoices": [self.invoice(n) for n in range(self.invoices)]}

    def body(self, n: int) -> dict[str, Any]:
        return {"invoice_id": f"autotask:{5_000_000 + n}", "contact_id": f"autotask:{self.contact_id(n % ORGANIZATIONS)}",
                "payment_method": {"token": "tok_visa_approved"}}


def write_accounting_books(data_dir: Path, world: World) -> None:
    """The accounting simulator's company file with a customer per organization and an invoice per PSA
    invoice (same DocNumber), written with the simulator's own rules before it starts: seeding through
    its API would spend the realm's request budget that the write-back is measured against."""
    state = SimState.create(AccountingSimConfig())
    customers = [state.books.create("Customer", {"DisplayName": world.company(o)["companyName"]})["Id"]
                 for o in range(ORGANIZATIONS)]
    for n in range(world.invoices):
        row = world.invoice(n)
        state.books.create("Invoice", {
            "CustomerRef": {"value": customers[n % ORGANIZATIONS]}, "DocNumber": row["invoiceNumber"],
            "TxnDate": str(world.issued), "DueDate": row["dueDate"][:10],
            "Line": [{"DetailType": "SalesItemLineDetail", "Amount": Decimal(f"{row['invoiceTotal']:.2f}"),
                      "SalesItemLineDetail": {}}]})
    Snapshots.in_folder(data_dir, "accounting").write(accounting_snapshot.dump(state))


async def call(http: aiohttp.ClientSession, method: str, url: str, body: Any = None, token: str | None = None,
               expect: int | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, json=body, headers=headers) as answer:
        text = await answer.text()
        if expect is not None and answer.status != expect or answer.status >= 400:
            raise RuntimeError(f"{method} {url} answered {answer.status}: {text[:500]}")
        return json.loads(text) if text else None


async def seed(http: aiohttp.ClientSession, stack: Stack, world: World) -> None:
    """PSA rows, both integrations and payment processing (as make up's demo does), tickets on for
    payment.succeeded, one sync run; then until payments holds every invoice, payable."""
    await call(http, "POST", f"{stack.url('psa')}/_sim/bulk", world.psa_bulk())
    urls = {name: stack.url(name) for name in ("sync", "payments", "psa", "accounting")}
    demo = Demo(http, urls, ADMIN)
    await demo.configure()
    await call(http, "PUT", f"{stack.url('notifications')}/v1/settings/notifications",
               {"payment.succeeded": {"email": True, "ticket": True}}, ADMIN, expect=200)
    run = await demo.first_sync(timeout=600)
    if run["status"] != "completed":
        raise RuntimeError(f"the sync run ended {run['status']}: {run.get('reason')}")
    deadline = time.monotonic() + 300
    while (payable := await count_payable(http, stack.url("payments"))) < world.invoices:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {payable} of {world.invoices} invoices payable after the sync run")
        await asyncio.sleep(1)


async def count_payable(http: aiohttp.ClientSession, payments: str) -> int:
    seen, cursor = 0, None
    while True:
        page = await call(http, "GET", f"{payments}/v1/invoices?limit=500" + (f"&cursor={cursor}" if cursor else ""),
                          token=MANAGER)
        seen += sum(1 for i in page["items"] if i.get("payable"))
        if not (cursor := page.get("next_cursor")):
            return seen


# -- load --------------------------------------------------------------------------------------------
@dataclass
class Paid:
    payment_id: str
    approved_at: float  # wall clock, when the 201 was read
    latency: float


async def drive(http: aiohttp.ClientSession, payments: str, bodies: list[dict[str, Any]], concurrency: int,
                rate: float | None = None) -> list[Paid]:
    """`concurrency` callers post the bodies, each payment with its own Idempotency-Key; with `rate`, the
    n-th request starts no sooner than n / rate seconds after the first (a sustained arrival rate)."""
    queue = list(reversed(list(enumerate(bodies))))
    paid: list[Paid] = []
    headers = {"Authorization": f"Bearer {MANAGER}"}
    first = time.perf_counter()

    async def caller() -> None:
        while queue:
            n, body = queue.pop()
            if rate:
                await asyncio.sleep(max(0.0, first + n / rate - time.perf_counter()))
            sent = time.perf_counter()
            async with http.post(f"{payments}/v1/payments", json=body,
                                 headers={**headers, "Idempotency-Key": str(uuid.uuid4())}) as answer:
                text = await answer.text()
            latency = time.perf_counter() - sent
            snapshot = json.loads(text)
            if answer.status != 201 or snapshot.get("status") != "succeeded":
                raise RuntimeError(f"payment of {body['invoice_id']}: {answer.status} {text[:300]}")
            paid.append(Paid(snapshot["payment_id"], time.time(), latency))

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    return paid


# -- arrivals in the simulators ----------------------------------------------------------------------
def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC).timestamp()


async def emails(http: aiohttp.ClientSession, stack: Stack) -> dict[str, float]:
    messages = await call(http, "GET", f"{stack.url('smtp')}/_sim/messages")
    return {m[1]: stamp(msg["received_at"]) for msg in messages
            if msg["subject"].startswith("Payment received") and (m := PAYMENT_ID.search(msg["body"] or ""))}


async def tickets(http: aiohttp.ClientSession, stack: Stack) -> dict[str, float]:
    rows = await call(http, "GET", f"{stack.url('psa')}/_sim/tickets")
    return {m[1]: stamp(row["createDate"]) for row in rows if (m := PAYMENT_ID.search(row.get("description") or ""))}


async def written_back(http: aiohttp.ClientSession, stack: Stack) -> dict[str, float]:
    rows = await call(http, "GET", f"{stack.url('accounting')}/_sim/payments")
    return {m[1]: stamp(row["MetaData"]["CreateTime"]) for row in rows
            if (m := ACCOUNTING_MARKER.search(row.get("PrivateNote") or ""))}


async def wait_for(look: Any, wanted: set[str], limit: float, every: float = 1.0) -> dict[str, float]:
    """Poll `look` until it shows every wanted payment or `limit` seconds pass; the arrivals seen."""
    deadline = time.monotonic() + limit
    while True:
        seen = {k: v for k, v in (await look()).items() if k in wanted}
        if len(seen) == len(wanted) or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(every)


async def calls_per_payment(http: aiohttp.ClientSession, stack: Stack, payments: int) -> dict[str, Any]:
    """The calls the simulators counted since the timed window began: what a payment costs the
    accounting realm's budget (500 a minute) and the PSA's."""
    books = await call(http, "GET", f"{stack.url('accounting')}/_sim/requests")
    psa = await call(http, "GET", f"{stack.url('psa')}/_sim/requests")
    return {"accounting_calls_per_payment": round(books["total"] / payments, 2),
            "accounting_calls": books["counts"], "accounting_throttled": books["throttled"],
            "psa_calls_per_payment": round(psa["total"] / payments, 2),
            "psa_calls": {entity: sum(methods.values()) for entity, methods in psa.get("by_entity", {}).items()}}


# -- figures -----------------------------------------------------------------------------------------
def quantile(values: Iterable[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(1000 * value, 1)


def figures(start: float, paid: list[Paid], mail: dict[str, float], ticket: dict[str, float],
            books: dict[str, float], drained_at: float) -> dict[str, Any]:
    approved = {p.payment_id: p.approved_at for p in paid}
    complete = [max(approved[k], mail[k], ticket[k]) for k in approved if k in mail and k in ticket]
    to_mail = [mail[k] - approved[k] for k in approved if k in mail]
    to_ticket = [ticket[k] - approved[k] for k in approved if k in ticket]
    to_books = [books[k] - approved[k] for k in approved if k in books]
    last_api = max(approved.values())
    return {
        "payments": len(paid), "completed": len(complete),
        "completed_per_s": round(len(complete) / (max(complete) - start), 1) if complete else 0.0,
        "api_per_s": round(len(paid) / (last_api - start), 1),
        "api_p50_ms": ms(statistics.median(p.latency for p in paid)), "api_p99_ms": ms(quantile((p.latency for p in paid), 0.99)),
        "approval_to_email_p50_ms": ms(quantile(to_mail, 0.5)), "approval_to_email_p99_ms": ms(quantile(to_mail, 0.99)),
        "approval_to_ticket_p99_ms": ms(quantile(to_ticket, 0.99)),
        "writeback_done": len(books),
        "writeback_per_s": round(len(books) / (max(books.values()) - start), 2) if books else 0.0,
        "approval_to_accounting_p50_ms": ms(quantile(to_books, 0.5)),
        "approval_to_accounting_p99_ms": ms(quantile(to_books, 0.99)),
        "writeback_drained": len(books) == len(paid), "writeback_followed_s": round(drained_at - start, 1),
    }


@dataclass
class Windows:
    """CPU seconds per process: while idle (before the load), until every payment completed, and until
    the write-back drained; with each window's wall seconds."""
    idle: dict[str, float]
    idle_seconds: float
    completed: dict[str, float]
    completed_seconds: float
    drained: dict[str, float]
    drained_seconds: float

    def draining_cores(self, name: str) -> float:
        """The share of a core the process used after every payment completed, while the write-back
        drained (the accounting side's own cost shows here; compare with the idle rate)."""
        tail = self.drained_seconds - self.completed_seconds
        return (self.drained[name] - self.completed[name]) / tail if tail > 0 else 0.0


def cpu_table(w: Windows, payments: int) -> dict[str, Any]:
    per = {name: {"ms_per_payment": round(1000 * w.completed[name] / payments, 2),
                  "draining_cores": round(w.draining_cores(name), 3),
                  "cores": round(w.completed[name] / w.completed_seconds, 2),
                  "idle_cores": round(w.idle[name] / w.idle_seconds, 3)} for name in w.completed}
    rig = {"psa sim", "accounting sim", "gateway sim", "smtp sim", "load generator"}
    product = [n for n in per if n not in rig]
    return {"processes": per, "window_s": round(w.completed_seconds, 1), "drain_window_s": round(w.drained_seconds, 1),
            "product_ms_per_payment": round(sum(per[n]["ms_per_payment"] for n in product), 2),
            "rig_ms_per_payment": round(sum(per[n]["ms_per_payment"] for n in rig if n in per), 2)}


def report(f: dict[str, Any], cpu: dict[str, Any], args: argparse.Namespace) -> None:
    paced = f", {args.rate:g} started per second" if args.rate else ""
    print(f"\nwhole system: {f['payments']} payments (tok_visa_approved), concurrency {args.concurrency}{paced}")
    print(f"  completed payments/s (approved + email + ticket)   {f['completed_per_s']:>8}   ({f['completed']} completed)")
    print(f"  payment API answers/s                              {f['api_per_s']:>8}")
    print(f"  payment API p50 / p99                              {f['api_p50_ms']} / {f['api_p99_ms']} ms")
    print(f"  approval -> email p50 / p99                        {f['approval_to_email_p50_ms']} / "
          f"{f['approval_to_email_p99_ms']} ms   (ticket p99 {f['approval_to_ticket_p99_ms']} ms)")
    print(f"  accounting write-back                              {f['writeback_per_s']}/s, {f['writeback_done']} of "
          f"{f['payments']} written in {f['writeback_followed_s']} s "
          f"({'drained' if f['writeback_drained'] else 'NOT drained: time limit'})")
    print(f"  approval -> accounting p50 / p99                   {f['approval_to_accounting_p50_ms']} / "
          f"{f['approval_to_accounting_p99_ms']} ms")
    print(f"  accounting calls per payment                       {f['accounting_calls_per_payment']}   "
          f"({f['accounting_throttled']} throttled; {f['accounting_calls']})")
    print(f"  PSA calls per payment                              {f['psa_calls_per_payment']}   ({f['psa_calls']})")
    print("  peak RSS per service (MB)                          "
          + ", ".join(f"{name} {mb}" for name, mb in f["peak_rss_mb"].items()))
    print(f"\n  CPU per process: ms per payment and share of a core until every payment completed "
          f"({cpu['window_s']} s);")
    print(f"  share of a core before the load (idle) and after completion while the write-back drained "
          f"({cpu['drain_window_s']} s from the start)")
    print(f"  {'process':<16} {'ms/payment':>11} {'cores':>7} {'idle cores':>11} {'draining cores':>15}")
    for name, row in sorted(cpu["processes"].items(), key=lambda kv: -kv[1]["ms_per_payment"]):
        print(f"  {name:<16} {row['ms_per_payment']:>11.2f} {row['cores']:>7.2f} {row['idle_cores']:>11.3f} "
              f"{row['draining_cores']:>15.3f}")
    print(f"  {'product total':<16} {cpu['product_ms_per_payment']:>11.2f}   (services, Postgres, Kafka)")
    print(f"  {'rig total':<16} {cpu['rig_ms_per_payment']:>11.2f}   (simulators, SMTP sink, load generator)")
    print(json.dumps({"benchmark": "system", "concurrency": args.concurrency, "rate": args.rate, **f, "cpu": cpu}, separators=(",", ":")))


# -- the run -----------------------------------------------------------------------------------------
async def warm_up(http: aiohttp.ClientSession, stack: Stack, world: World, concurrency: int) -> None:
    """A few payments through every path (and waited for to the books), so the timed window starts warm."""
    paid = await drive(http, stack.url("payments"), [world.body(n) for n in range(WARM_UP)], concurrency)
    wanted = {p.payment_id for p in paid}
    for look in (lambda: emails(http, stack), lambda: tickets(http, stack), lambda: written_back(http, stack)):
        if len(await wait_for(look, wanted, 120)) < len(wanted):
            raise TimeoutError("the warm-up's payments did not complete in 120 s")


async def measure(args: argparse.Namespace) -> None:
    os.environ.setdefault("SECRETS_KEY", new_key())  # make up's keys come from .cache; never touch those
    os.environ.setdefault("IDENTITY_KEY", uuid.uuid4().hex * 2)
    stack = Stack(Path(tempfile.mkdtemp(prefix="billing-bench-system-")), free_ports())
    os.environ["SIMULATORS_DATA_DIR"] = str(stack.home / "simulators")
    world = World(WARM_UP + args.payments)
    try:
        async with AsyncExitStack() as exits:
            print(f"starting the stack in {stack.home} ...", flush=True)
            await start_stack(stack, world)
            http = await exits.enter_async_context(aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=args.concurrency + 10), timeout=aiohttp.ClientTimeout(total=120)))
            print(f"seeding {world.invoices} invoices and running the first sync ...", flush=True)
            await seed(http, stack, world)
            print("warm-up ...", flush=True)
            await warm_up(http, stack, world, args.concurrency)
            await timed(http, stack, world, args)
    finally:
        stack.stop()


async def timed(http: aiohttp.ClientSession, stack: Stack, world: World, args: argparse.Namespace) -> None:
    pids = stack.pids()
    quiet = CpuSample.take(pids)
    await asyncio.sleep(IDLE_SECONDS)  # what each process costs doing nothing: polling loops, the broker
    before = CpuSample.take(pids)
    idle = before.minus(quiet)
    for sim in ("accounting", "psa"):  # count the timed window's calls only
        await call(http, "DELETE", f"{stack.url(sim)}/_sim/requests")
    start = time.time()
    print(f"timed: {args.payments} payments ...", flush=True)
    paid = await drive(http, stack.url("payments"), [world.body(n) for n in range(WARM_UP, world.invoices)],
                       args.concurrency, args.rate)
    wanted = {p.payment_id for p in paid}
    mail = await wait_for(lambda: emails(http, stack), wanted, args.drain_limit)
    ticket = await wait_for(lambda: tickets(http, stack), wanted, args.drain_limit)
    completed_cpu, completed_at = CpuSample.take(pids).minus(before), time.time()
    books = await wait_for(lambda: written_back(http, stack), wanted, args.drain_limit, every=2.0)
    drained_cpu, drained_at = CpuSample.take(pids).minus(before), time.time()
    f = figures(start, paid, mail, ticket, books, drained_at)
    f.update(await calls_per_payment(http, stack, len(paid)))
    windows = Windows(idle, IDLE_SECONDS, completed_cpu, completed_at - start, drained_cpu, drained_at - start)
    f["peak_rss_mb"] = {name: peak_rss_mb(pid) for name, pid in pids.items()
                        if name in ("sync", "payments", "notifications", "portal")}
    report(f, cpu_table(windows, len(paid)), args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--drain-limit", type=float, default=900.0,
                        help="seconds to wait, after the load, for emails, tickets and the write-back (each)")
    parser.add_argument("--rate", type=float, default=None,
                        help="payments started per second, sustained (default: as fast as the callers go)")
    args = parser.parse_args()
    uvloop.run(measure(args))


if __name__ == "__main__":
    sys.exit(main())
