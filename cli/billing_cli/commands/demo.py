"""`billing-link demo`: the demo world `make up` seeds (deploy/devstack/demo.py, reused as it is), then one
payment walked through: paid at the gateway, recorded in the ledger, written back to accounting and the PSA."""
from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Annotated, Any

import aiohttp
import typer

from devstack.demo import Demo

from billing_cli.client import Api, api
from billing_cli.commands import Json
from billing_cli.errors import CheckFailed, ServiceFailure, Unreachable
from billing_cli.output import Output, payment_tables, sync_counts
from billing_cli.runner import config_of, run

ORGANIZATION, PAYER, CARD = "autotask:678", "autotask:901", "tok_visa_approved"


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(ctx: typer.Context,
             timeout: Annotated[float, typer.Option(help="Seconds to wait for each step.")] = 120,
             as_json: Json = False) -> None:
        """Seed the simulators with the demo world (once), sync it, and walk one payment through to
        accounting and the PSA. Needs the simulators (PSA_SIM_URL, ACCOUNTING_SIM_URL; `make up` starts them)."""
        config = config_of(ctx)

        async def work(out: Output) -> None:
            async with api(config) as client:
                found = await _seed(client, out, timeout)
                found["payment"] = await _pay(client, out, timeout)
                found["written_back"] = await _written_back(client, out, found["payment"], timeout)
            out.emit(found, lambda c: [c.print(t) for t in payment_tables(found["payment"])])

        run(as_json, work)


async def _seed(client: Api, out: Output, timeout: float) -> dict[str, Any]:
    urls = {k: client.config.urls[k] for k in ("sync", "payments", "psa", "accounting")}
    demo = Demo(client.http, urls, client.config.token)
    out.note("seeding the PSA simulator with the demo world ...")
    try:
        fresh = await demo.seed_psa()
        await demo.configure()
        out.note("running a sync ...")
        run_ = await demo.first_sync(timeout)
    except aiohttp.ClientConnectionError as exc:
        raise Unreachable(f"a simulator or service is unreachable: {exc}", {"urls": urls}) from exc
    except (RuntimeError, TimeoutError) as exc:
        raise CheckFailed(f"the demo world could not be set up: {exc}") from exc
    if run_["status"] != "completed":
        raise CheckFailed(f"the demo's sync run ended {run_['status']}: {run_.get('reason')}", {"run": run_})
    out.note("; ".join(sync_counts(run_)))
    return {"seeded": fresh, "sync_run": run_}


async def _pay(client: Api, out: Output, timeout: float) -> dict[str, Any]:
    """The smallest payable invoice of the first demo organization, paid in full by its primary contact (payments
    learns the contact from the directory sync publishes, so a refusal for an unknown payer is tried again)."""
    deadline = time.monotonic() + timeout
    while True:
        payable = [i for i in await client.invoices(ORGANIZATION) if i.get("payable")]
        if payable:
            break
        if time.monotonic() > deadline:
            raise CheckFailed(f"no payable invoice of {ORGANIZATION} (make clean starts a fresh demo world)")
        await asyncio.sleep(1)
    invoice = min(payable, key=lambda i: Decimal(i["balance"]))
    out.note(f"paying {invoice['invoice_id']} ({invoice['balance']} {invoice['currency']}) with {CARD} ...")
    body = {"invoice_id": invoice["invoice_id"], "contact_id": PAYER, "payment_method": {"token": CARD}}
    while True:
        status, answer = await client.pay(body)
        if status == 201:
            return answer
        code = ((answer or {}).get("error") or {}).get("code") if isinstance(answer, dict) else None
        if code != "contact_not_in_organization" or time.monotonic() > deadline:
            raise ServiceFailure("payments", status, answer)
        await asyncio.sleep(1)


async def _written_back(client: Api, out: Output, payment: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Wait until accounting holds the payment (by the gateway's transaction id) and the PSA invoice has a paid date."""
    out.note(f"payment {payment['payment_id']} {payment['status']}; waiting for the write-back ...")
    if payment["status"] != "succeeded":
        raise CheckFailed(f"the demo payment {payment['status']}: {payment.get('failure_reason')}",
                          {"payment": payment})
    external_ids = [a["invoice_id"].split(":", 1)[1] for a in payment["applications"]]
    deadline = time.monotonic() + timeout
    while True:
        booked = [p for p in await client.simulator("accounting", "GET", "/_sim/payments")
                  if p.get("PaymentRefNum") == payment["transaction_id"]]
        paid_dates = [(await client.simulator("psa", "GET", f"/_sim/invoices/{i}")).get("paidDate")
                      for i in external_ids]
        if booked and all(paid_dates):
            out.note(f"in accounting as payment {booked[0].get('Id')}; PSA paid date {paid_dates[0]}")
            return {"accounting_payment_id": booked[0].get("Id"), "psa_paid_dates": paid_dates}
        if time.monotonic() > deadline:
            raise CheckFailed("the payment was not written back to accounting and the PSA in time",
                              {"accounting": booked, "psa_paid_dates": paid_dates})
        await asyncio.sleep(1)
