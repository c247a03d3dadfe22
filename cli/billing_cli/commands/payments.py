"""`billing-link payments search` and `payments show <id>`: the payments API's search and details, as tables."""
from __future__ import annotations

from typing import Annotated, Any

import typer

from billing_cli.client import api
from billing_cli.commands import Json
from billing_cli.output import Output, payment_tables, payments_table
from billing_cli.runner import config_of, run

app = typer.Typer(help="Payments: search and details.", no_args_is_help=True)
STATUSES = ("pending", "succeeded", "failed", "cancelled", "charged_back")


@app.command("search")
def search(ctx: typer.Context,
           organization: Annotated[str | None, typer.Option(help="Organization id, e.g. autotask:678.")] = None,
           status: Annotated[str | None, typer.Option(help=f"One of {', '.join(STATUSES)}.")] = None,
           invoice: Annotated[str | None, typer.Option(help="Invoice id, e.g. autotask:5001.")] = None,
           from_: Annotated[str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")] = None,
           to: Annotated[str | None, typer.Option(help="Last day, YYYY-MM-DD.")] = None,
           limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many, newest first.")] = 50,
           as_json: Json = False) -> None:
    """Search payments (newest first), with the API's filters."""
    if status is not None and status not in STATUSES:
        raise typer.BadParameter(f"one of {', '.join(STATUSES)}", param_hint="--status")
    filters = {k: v for k, v in (("organization_id", organization), ("status", status), ("invoice_id", invoice),
                                 ("from", from_), ("to", to)) if v}
    config = config_of(ctx)

    async def work(out: Output) -> None:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        async with api(config) as client:
            while len(items) < limit:  # page by the API's cursor until the limit or the end
                page = await client.search_payments({**filters, **({"cursor": cursor} if cursor else {})},
                                                    min(limit - len(items), 100))
                items += page["items"]
                cursor = page.get("next_cursor")
                if not cursor:
                    break
        out.emit({"items": items, "filters": filters}, lambda c: c.print(payments_table(items)))

    run(as_json, work)


@app.command("show")
def show(ctx: typer.Context, payment_id: Annotated[str, typer.Argument(help="The payment's id.")],
         as_json: Json = False) -> None:
    """One payment: its facts, applications and transaction rows."""
    config = config_of(ctx)

    async def work(out: Output) -> None:
        async with api(config) as client:
            payment = await client.payment(payment_id)
        out.emit(payment, lambda c: [c.print(t) for t in payment_tables(payment)])

    run(as_json, work)
