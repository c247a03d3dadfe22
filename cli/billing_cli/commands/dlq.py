"""`billing-link dlq list|show|replay`: the messages consumers parked in `<topic>.dlq`, and sending them back
to `<topic>` once the cause is fixed."""
from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.syntax import Syntax

from billing_cli.broker import Broker, contract_topic
from billing_cli.commands import Json
from billing_cli.errors import BadUsage, CheckFailed
from billing_cli.output import Output, dead_letters_table, to_json
from billing_cli.runner import config_of, run

app = typer.Typer(help="Dead-letter queues: list, show, replay.", no_args_is_help=True)
Topic = Annotated[str, typer.Argument(help="The topic, e.g. billing.payments.v1 (or its .dlq).")]
Partition = Annotated[int | None, typer.Option(min=0, help="The .dlq partition (when the offset is in several).")]


def _broker(ctx: typer.Context) -> Broker:
    config = config_of(ctx)
    return Broker(config.kafka, config.topic_prefix)


@app.command("list")
def list_(ctx: typer.Context,
          topic: Annotated[str | None, typer.Option(help="Only this topic's dead letters.")] = None,
          limit: Annotated[int, typer.Option(min=1, help="At most this many messages.")] = 200,
          as_json: Json = False) -> None:
    """Dead letters per topic: the counts, and each message's place, consumer and error."""
    broker = _broker(ctx)

    async def work(out: Output) -> None:
        only = contract_topic(broker.names, topic) if topic else None
        counts = await broker.dlq_counts()
        letters = [d.summary() for d in await broker.dead_letters(only, limit=limit)]
        shown = {only: counts[only]} if only else counts
        out.emit({"counts": shown, "items": letters}, lambda c: c.print(dead_letters_table(letters, shown)))

    run(as_json, work)


@app.command("show")
def show(ctx: typer.Context, topic: Topic,
         offset: Annotated[int, typer.Argument(min=0, help="The message's offset in the .dlq.")],
         partition: Partition = None, as_json: Json = False) -> None:
    """One dead letter: its headers (error, source offset, consumer) and its value as it arrived."""
    broker = _broker(ctx)

    async def work(out: Output) -> None:
        letter = (await broker.dead_letter(contract_topic(broker.names, topic), offset, partition)).detail()

        def render(console) -> None:  # type: ignore[no-untyped-def]
            console.print(dead_letters_table([letter]))
            console.print(to_json(letter["headers"]))
            console.print(Syntax(_pretty(letter["value"]), "json", word_wrap=True))

        out.emit(letter, render)

    run(as_json, work)


@app.command("replay")
def replay(ctx: typer.Context, topic: Topic,
           offset: Annotated[int | None, typer.Option(min=0, help="Replay the message at this .dlq offset.")] = None,
           partition: Partition = None,
           all_: Annotated[bool, typer.Option("--all", help="Replay every message in the topic's .dlq.")] = False,
           dry_run: Annotated[bool, typer.Option("--dry-run",
                                                 help="Say what would be replayed; send nothing.")] = False,
           yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
           as_json: Json = False) -> None:
    """Send dead letters back to their source topic, key and value unchanged (consumers deduplicate by
    event_id, so a message that took effect once does not take effect again). Asks first unless --yes."""
    if (offset is None) == (not all_):
        raise typer.BadParameter("name one message with --offset N, or all of them with --all")
    broker = _broker(ctx)

    async def work(out: Output) -> int:
        source = contract_topic(broker.names, topic)
        letters = ([await broker.dead_letter(source, offset, partition)] if offset is not None
                   else await broker.dead_letters(source, limit=sys.maxsize))
        sendable = [d for d in letters if d.header("value_left_out") is None]
        left_out = [d.summary() for d in letters if d.header("value_left_out") is not None]
        plan = {"topic": source, "to": broker.names(source), "dry_run": dry_run,
                "messages": [d.summary() for d in sendable], "not_replayable": left_out, "replayed": 0}
        if dry_run or not sendable:
            out.emit(plan, lambda c: _render_plan(c, plan, "would replay" if dry_run else "nothing to replay"))
            return 0
        if not yes:
            _confirm(out, f"Replay {len(sendable)} message(s) from {broker.names.dlq(source)} "
                          f"to {broker.names(source)}?")
        await broker.replay(sendable)
        plan["replayed"] = len(sendable)
        out.emit(plan, lambda c: _render_plan(c, plan, "replayed"))
        return 0

    run(as_json, work)


def _confirm(out: Output, question: str) -> None:
    if not sys.stdin.isatty():
        raise BadUsage("replaying asks for confirmation at a terminal: pass --yes to replay without asking")
    if not typer.confirm(question, default=False, err=out.as_json):
        raise CheckFailed("nothing replayed: not confirmed")


def _render_plan(console, plan: dict, verb: str) -> None:  # type: ignore[no-untyped-def]
    console.print(f"{verb}: {len(plan['messages'])} message(s) to {plan['to']}")
    if plan["messages"]:
        console.print(dead_letters_table(plan["messages"]))
    if plan["not_replayable"]:
        console.print(f"[yellow]{len(plan['not_replayable'])} message(s) were parked without their value (too "
                      "large): find them by source_partition and source_offset in the source topic[/]")


def _pretty(value: str | None) -> str:
    if value is None:
        return "null"
    try:
        return json.dumps(json.loads(value), indent=2)
    except ValueError:
        return value
