"""The `billing-link` command: global options (where the services and Kafka are, the token) and the groups."""
from __future__ import annotations

from typing import Annotated

import typer

from billing_cli.commands import demo, dlq, payments, reconcile, status, sync
from billing_cli.config import Config

app = typer.Typer(name="billing-link", no_args_is_help=True, add_completion=False,
                  help="Operator CLI of billing-link. Exit codes: 0 ok, 1 a failure reported by a service or a "
                       "check that failed, 2 bad usage, 3 a service (or Kafka) unreachable.")
Url = Annotated[str | None, typer.Option(show_default=False)]


@app.callback()
def main_options(ctx: typer.Context,
                 sync_url: Annotated[str | None, typer.Option(
                     help="Default $SYNC_URL or http://127.0.0.1:8081.")] = None,
                 payments_url: Annotated[str | None, typer.Option(help="Default $PAYMENTS_URL or :8082.")] = None,
                 notifications_url: Annotated[str | None, typer.Option(
                     help="Default $NOTIFICATIONS_URL or :8083.")] = None,
                 portal_url: Annotated[str | None, typer.Option(help="Default $PORTAL_URL or :8080.")] = None,
                 psa_sim_url: Annotated[str | None, typer.Option(help="Default $PSA_SIM_URL or :9101 (demo).")] = None,
                 accounting_sim_url: Annotated[str | None, typer.Option(
                     help="Default $ACCOUNTING_SIM_URL or :9102 (demo).")] = None,
                 kafka: Annotated[str | None, typer.Option(
                     help="Default $KAFKA_BOOTSTRAP_SERVERS or localhost:9092.")] = None,
                 topic_prefix: Annotated[str | None, typer.Option(help="Default $KAFKA_TOPIC_PREFIX or none.")] = None,
                 token: Annotated[str | None, typer.Option(
                     help="Bearer token; default $BILLING_LINK_TOKEN or make up's admin token.")] = None) -> None:
    urls = {"sync": sync_url, "payments": payments_url, "notifications": notifications_url, "portal": portal_url,
            "psa": psa_sim_url, "accounting": accounting_sim_url}
    ctx.obj = Config.from_env().override(urls=urls, kafka=kafka, topic_prefix=topic_prefix, token=token)


status.register(app)
app.add_typer(sync.app, name="sync")
app.add_typer(payments.app, name="payments")
app.add_typer(dlq.app, name="dlq")
reconcile.register(app)
demo.register(app)


def main() -> None:
    app()
