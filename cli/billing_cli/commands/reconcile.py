"""`billing-link reconcile [--from D --to D] [--follow]`: a three-way reconciliation run on payments, and its
report (the drift table) once both parts are in."""
from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import Annotated

import typer

from billing_cli.client import api
from billing_cli.commands import Json
from billing_cli.errors import FAILED, OK, CheckFailed
from billing_cli.output import Output, reconciliation_clean, reconciliation_tables
from billing_cli.runner import config_of, run

POLL_SECONDS = 1.0
Day = Annotated[str | None, typer.Option(help="YYYY-MM-DD (UTC, included); both omitted: yesterday.")]


def register(app: typer.Typer) -> None:
    @app.command()
    def reconcile(ctx: typer.Context, from_: Annotated[str | None, typer.Option(
                      "--from", help="First day, YYYY-MM-DD (UTC); both omitted: yesterday.")] = None,
                  to: Day = None,
                  follow: Annotated[bool, typer.Option("--follow", help="Wait for the report and show it.")] = False,
                  timeout: Annotated[float, typer.Option(help="Seconds to wait for the report.")] = 600,
                  as_json: Json = False) -> None:
        """Start a reconciliation run (gateway, ledger, accounting, PSA); with --follow, its drifts.
        Exit 1 when a part failed or drifts are left open."""
        for name, value in (("--from", from_), ("--to", to)):
            if value is not None:
                try:
                    date.fromisoformat(value)
                except ValueError:
                    raise typer.BadParameter("a date like 2026-11-27", param_hint=name) from None
        config = config_of(ctx)

        async def work(out: Output) -> int:
            async with api(config) as client:
                started = await client.start_reconciliation(from_, to)
                if not follow:
                    out.emit(started, lambda c: c.print(f"reconciliation run {started['run_id']} started "
                                                        f"({started['period_start']} to {started['period_end']})"))
                    return OK
                out.note(f"waiting for reconciliation run {started['run_id']} ...")
                deadline = time.monotonic() + timeout
                while True:
                    report = await client.reconciliation_report(started["run_id"])
                    if report["run"]["status"] != "running":
                        break
                    if time.monotonic() > deadline:
                        raise CheckFailed(f"reconciliation run {started['run_id']} not complete after {timeout:.0f}s",
                                          {"report": report})
                    await asyncio.sleep(POLL_SECONDS)
            out.emit(report, lambda c: [c.print(t) for t in reconciliation_tables(report)])
            return OK if reconciliation_clean(report) else FAILED

        run(as_json, work)
