"""Formatting apart from the commands: JSON for scripts, Rich tables for people, and how a failure is shown.
The functions that build tables take plain data (what the APIs answer) so they are tested without a stack."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from billing_cli.errors import CliFailure


class Output:
    def __init__(self, as_json: bool, console: Console | None = None, errors: Console | None = None) -> None:
        self.as_json = as_json
        self.console = console or Console()
        self.errors = errors or Console(stderr=True)

    def emit(self, data: Any, render: Callable[[Console], None]) -> None:
        """`data` as JSON on stdout in --json mode; else `render` draws it for people."""
        if self.as_json:
            sys.stdout.write(to_json(data) + "\n")
            sys.stdout.flush()
        else:
            render(self.console)

    def note(self, text: str) -> None:
        """A line for people only (progress, confirmations); --json output stays one document."""
        if not self.as_json:
            self.console.print(text)

    def failure(self, failure: CliFailure) -> None:
        if self.as_json:
            sys.stdout.write(to_json({"error": {"message": failure.message, "exit_code": failure.exit_code,
                                                "details": failure.details}}) + "\n")
        else:
            self.errors.print(f"[bold red]error:[/] {failure.message}", highlight=False)


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True, default=str)


# status

def status_ok(report: dict[str, Any]) -> bool:
    return all(s["healthy"] for s in report["services"].values())


def status_tables(report: dict[str, Any]) -> list[Table]:
    services = Table(title="Services")
    for column in ("service", "health", "checks", "outbox backlog"):
        services.add_column(column)
    for name, s in report["services"].items():
        health = ("[green]ok[/]" if s["healthy"]
                  else "[red]unreachable[/]" if s["status"] is None else "[red]unhealthy[/]")
        checks = ", ".join(f"{k}: {v}" for k, v in (s.get("checks") or {}).items()) or s.get("error") or ""
        backlog = s.get("outbox_backlog")
        services.add_row(name, health, checks, "-" if backlog is None else str(backlog))
    tables = [services]
    if report.get("kafka_error"):
        return tables
    lag = Table(title="Consumer lag")
    for column in ("group", "topic", "lag"):
        lag.add_column(column)
    for group, topics in report["consumer_lag"].items():
        for topic, behind in topics.items():
            lag.add_row(group, topic, f"[yellow]{behind}[/]" if behind else "0")
    dlq = Table(title="Dead letters")
    dlq.add_column("topic")
    dlq.add_column("in .dlq", justify="right")
    for topic, count in report["dead_letters"].items():
        dlq.add_row(topic, f"[red]{count}[/]" if count else "0")
    return [*tables, lag, dlq]


# sync

def sync_counts(run: dict[str, Any]) -> list[str]:
    """The final counts, one line per entity: `invoices: 3 fetched of 3`."""
    lines = []
    for entity, p in sorted(run.get("entities", {}).items()):
        total = p.get("total")
        lines.append(f"{entity}: {p.get('fetched', 0)} fetched" + (f" of {total}" if total is not None else ""))
    return lines


def sync_verdict(run: dict[str, Any]) -> str:
    reason = f" ({run['reason']})" if run.get("reason") else ""
    return f"sync run {run['run_id']} {run['status']}{reason}"


# payments

def payments_table(items: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Payments ({len(items)})")
    # the id is never cut or wrapped (it is copied into `payments show`); the rest wraps in a narrow terminal
    table.add_column("payment", no_wrap=True)
    for column in ("status", "amount", "organization", "invoices", "card", "at"):
        table.add_column(column, justify="right" if column == "amount" else "left", overflow="fold")
    for p in items:
        amount = f"{p.get('sale_amount')} {p.get('currency') or ''}".strip()
        table.add_row(p["payment_id"], _status(p.get("status")), amount,
                      p.get("organization_id") or "", ", ".join(a["invoice_id"] for a in p.get("applications") or []),
                      _card(p.get("method")), _minute((p.get("transactions") or [{}])[0].get("at")))
    return table


def payment_tables(p: dict[str, Any]) -> list[Table]:
    facts = Table(title=f"Payment {p['payment_id']}", show_header=False)
    facts.add_column("field", style="bold")
    facts.add_column("value")
    for field in ("status", "organization_id", "contact_id", "environment", "currency", "sale_amount", "applied_amount",
                  "unapplied_amount", "refund_amount", "transaction_id", "order_id", "failure_reason"):
        if p.get(field) is not None:
            facts.add_row(field, _status(p[field]) if field == "status" else str(p[field]))
    facts.add_row("method", _method(p.get("method")))
    applications = Table(title="Applications")
    applications.add_column("invoice")
    applications.add_column("amount", justify="right")
    for a in p.get("applications") or []:
        applications.add_row(a["invoice_id"], str(a["amount"]))
    transactions = Table(title="Transactions")
    for column in ("type", "amount", "at", "transaction"):
        transactions.add_column(column)
    for t in p.get("transactions") or []:
        transactions.add_row(t.get("type", ""), str(t.get("amount", "")), str(t.get("at", "")),
                             str(t.get("transaction_id") or ""))
    return [facts, applications, transactions]


def _method(method: dict[str, Any] | None) -> str:
    if not method:
        return ""
    return " ".join(str(method[k]) for k in ("type", "brand", "last4") if method.get(k))


def _card(method: dict[str, Any] | None) -> str:
    """Short, for a table row: `visa 1111`, or the type when there is no brand."""
    if not method:
        return ""
    return " ".join(str(method[k]) for k in ("brand", "last4") if method.get(k)) or str(method.get("type") or "")


def _minute(at: Any) -> str:
    return str(at)[:16].replace("T", " ") if at else ""


def _status(status: Any) -> str:
    colour = {"succeeded": "green", "failed": "red", "charged_back": "red", "pending": "yellow"}.get(str(status))
    return f"[{colour}]{status}[/]" if colour else str(status)


# dead letters

def dead_letters_table(letters: list[dict[str, Any]], counts: dict[str, int] | None = None) -> Table:
    title = "Dead letters" + (f" ({sum(counts.values())})" if counts is not None else "")
    table = Table(title=title)
    for column in ("topic", "partition", "offset", "consumer", "source", "error"):
        table.add_column(column)
    for d in letters:
        source = f"p{d['source_partition']}@{d['source_offset']}" if d.get("source_offset") is not None else ""
        table.add_row(d["topic"], str(d["partition"]), str(d["offset"]), d.get("consumer") or "", source,
                      (d.get("error") or "")[:120])
    return table


# reconciliation

def reconciliation_tables(report: dict[str, Any]) -> list[Text | Table]:
    run = report["run"]
    heading = Text(f"Reconciliation run {run['run_id']}: {run['status']}, {run['period_start']} to {run['period_end']}",
                   style="bold")
    parts = Table(title="Parts")
    for column in ("part", "state", "failure"):
        parts.add_column(column)
    for name in ("gateway", "books"):
        part = run.get(name) or {}
        parts.add_row(name, str(part.get("state")), str(part.get("failure") or ""))
    drifts = Table(title=f"Drifts ({run.get('drift_count', len(report['drifts']))}, open {run.get('open_count', 0)})")
    for column in ("code", "state", "organization", "payment", "invoice", "amount", "summary"):
        drifts.add_column(column)
    for d in report["drifts"]:
        amount = f"{d['amount']} {d.get('currency') or ''}".strip() if d.get("amount") is not None else ""
        drifts.add_row(d["code"], d["state"], d.get("organization_id") or "", d.get("payment_id") or "",
                       d.get("invoice_id") or "", amount, d.get("summary") or "")
    return [heading, parts, drifts]


def reconciliation_clean(report: dict[str, Any]) -> bool:
    """A check that passed: both parts checked and no drift left open."""
    run = report["run"]
    return all((run.get(p) or {}).get("state") == "checked" for p in ("gateway", "books")) and not run.get("open_count")
