"""`billing-link sync now [--follow]`: start a sync run (or join the one going) and watch it to its end."""
from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from billing_cli.client import Api, api
from billing_cli.commands import Json
from billing_cli.errors import FAILED, OK, CheckFailed
from billing_cli.output import Output, sync_counts, sync_verdict
from billing_cli.runner import config_of, run

POLL_SECONDS = 0.5

app = typer.Typer(help="Sync runs: PSA and accounting into the system.", no_args_is_help=True)


@app.command("now")
def now(ctx: typer.Context,
        follow: Annotated[bool, typer.Option("--follow", help="Show progress per entity until the run ends.")] = False,
        mode: Annotated[str | None, typer.Option(help="full or incremental (default: the service decides).")] = None,
        timeout: Annotated[float, typer.Option(help="Seconds to follow before giving up.")] = 1800,
        as_json: Json = False) -> None:
    """Start a sync run now; with --follow, a progress bar per entity and the final counts.
    Exit 1 when the run did not complete."""
    if mode not in (None, "full", "incremental"):
        raise typer.BadParameter("mode is full or incremental", param_hint="--mode")
    config = config_of(ctx)

    async def work(out: Output) -> int:
        async with api(config) as client:
            started = await client.start_sync(mode)
            if not follow:
                out.emit(started, lambda c: c.print(f"sync run {started['run_id']} "
                                                    + ("started" if started.get("started") else "already going")))
                return OK
            out.note(f"following sync run {started['run_id']} ...")
            final = await (_wait(client, started["run_id"], timeout) if out.as_json
                           else _follow(client, started["run_id"], timeout, out))
        lines = [*sync_counts(final), sync_verdict(final)]
        out.emit(final, lambda c: [c.print(line, highlight=False) for line in lines])
        return OK if final["status"] == "completed" else FAILED

    run(as_json, work)


async def _wait(client: Api, run_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        current = await client.sync_run(run_id)
        if current["status"] != "running":
            return current
        if time.monotonic() > deadline:
            raise CheckFailed(f"sync run {run_id} still running after {timeout:.0f}s", {"run": current})
        await asyncio.sleep(POLL_SECONDS)


async def _follow(client: Api, run_id: str, timeout: float, out: Output) -> dict[str, Any]:
    """The same wait, drawing one bar per entity from the run's progress (an entity whose total is not known
    yet has a bar without an end)."""
    bars: dict[str, TaskID] = {}
    columns = (TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=out.console, transient=False) as progress:
        deadline = time.monotonic() + timeout
        while True:
            current = await client.sync_run(run_id)
            for entity, p in sorted(current.get("entities", {}).items()):
                if entity not in bars:
                    bars[entity] = progress.add_task(entity, total=p.get("total"))
                progress.update(bars[entity], completed=p.get("fetched", 0), total=p.get("total"))
            if current["status"] != "running":
                return current
            if time.monotonic() > deadline:
                raise CheckFailed(f"sync run {run_id} still running after {timeout:.0f}s", {"run": current})
            await asyncio.sleep(POLL_SECONDS)
