"""Runs one command's coroutine and turns its outcome into the exit code (errors.py) and its output."""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import typer

from billing_cli.config import Config
from billing_cli.errors import OK, CliFailure
from billing_cli.output import Output


def config_of(ctx: typer.Context) -> Config:
    return ctx.obj


def run(as_json: bool, work: Callable[[Output], Awaitable[int | None]]) -> None:
    out = Output(as_json)
    try:
        code = asyncio.run(work(out)) or OK
    except CliFailure as failure:
        out.failure(failure)
        code = failure.exit_code
    raise typer.Exit(code)
