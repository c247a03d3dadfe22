"""`billing-link status`: each service's /health and outbox backlog, consumer lag per group, dead letters."""
from __future__ import annotations

import asyncio
from typing import Any

import typer
from prometheus_client.parser import text_string_to_metric_families

from billing_cli.broker import Broker
from billing_cli.client import SERVICES, Api, api
from billing_cli.commands import Json
from billing_cli.config import Config
from billing_cli.errors import FAILED, OK, UNREACHABLE, CliFailure, Unreachable
from billing_cli.output import Output, status_ok, status_tables
from billing_cli.runner import config_of, run

OUTBOX_BACKLOG = "billing_outbox_backlog"


def register(app: typer.Typer) -> None:
    @app.command()
    def status(ctx: typer.Context, as_json: Json = False) -> None:
        """Health of each service, its outbox backlog, consumer lag per group and dead letters per topic.
        Exit 1 when a service is unhealthy, 3 when a service or Kafka cannot be reached."""
        config = config_of(ctx)

        async def work(out: Output) -> int:
            report = await gather(config)
            out.emit(report, lambda console: [console.print(t) for t in status_tables(report)])
            return exit_code(report)

        run(as_json, work)


async def gather(config: Config) -> dict[str, Any]:
    async with api(config) as client:
        services = dict(zip(SERVICES, await asyncio.gather(*(_service(client, s) for s in SERVICES)), strict=True))
    broker = Broker(config.kafka, config.topic_prefix)
    report: dict[str, Any] = {"services": services, "kafka": config.kafka, "kafka_error": None,
                              "consumer_lag": {}, "dead_letters": {}}
    try:
        report["consumer_lag"], report["dead_letters"] = await asyncio.gather(broker.consumer_lag(),
                                                                              broker.dlq_counts())
    except Unreachable as exc:
        report["kafka_error"] = exc.message
    return report


def exit_code(report: dict[str, Any]) -> int:
    if report["kafka_error"] or any(s["status"] is None for s in report["services"].values()):
        return UNREACHABLE
    return OK if status_ok(report) else FAILED


async def _service(client: Api, name: str) -> dict[str, Any]:
    try:
        status, body = await client.health(name)
    except Unreachable as exc:
        return {"url": client.config.urls[name], "status": None, "healthy": False, "checks": {}, "error": exc.message,
                "outbox_backlog": None}
    found: dict[str, Any] = {"url": client.config.urls[name], "status": status, "healthy": status == 200,
                             "checks": (body or {}).get("checks", {}) if isinstance(body, dict) else {}, "error": None}
    try:
        found["outbox_backlog"] = outbox_backlog(await client.metrics(name))
    except CliFailure:
        found["outbox_backlog"] = None
    return found


def outbox_backlog(metrics_text: str) -> int | None:
    """The rows the service's outbox relay left waiting at its last pass (its gauge on /metrics); None when the
    service exposes no such gauge (no outbox, or its relay has not run yet)."""
    samples = [s.value for family in text_string_to_metric_families(metrics_text) if family.name == OUTBOX_BACKLOG
               for s in family.samples]
    return int(sum(samples)) if samples else None
