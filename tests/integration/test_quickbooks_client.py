"""The QuickBooks client against the accounting simulator, run in-process on a free port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp.test_utils import TestServer
from billing_simulators.accounting import AccountingSimConfig, create_app
from billing_simulators.accounting.state import SIM_STATE
from billing_sync.adapters import quickbooks_json
from billing_sync.adapters.quickbooks import (
    InvoiceLine,
    QuickBooksAuthError,
    QuickBooksClient,
    QuickBooksFault,
    QuickBooksThrottled,
    QuickBooksUnavailable,
    TokenProvider,
)

pytestmark = pytest.mark.timeout(20)

CLIENT_SECRET = "sim-client-secret"
FIRST_REFRESH_TOKEN = "sim-refresh-token"


@dataclass
class Sim:
    server: TestServer
    http: aiohttp.ClientSession
    rotations: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(method, f"{self.base_url}{path}", json=body) as response:
            assert response.status < 300, await response.text()
            return await response.json()

    def token_provider(self, refresh_token: str = FIRST_REFRESH_TOKEN, **kwargs: Any) -> TokenProvider:
        async def on_rotate(new_token: str) -> None:
            self.rotations.append(new_token)

        return TokenProvider(
            self.http,
            token_url=f"{self.base_url}/oauth2/v1/tokens/bearer",
            client_id=kwargs.pop("client_id", "sim-client"),
            client_secret=kwargs.pop("client_secret", CLIENT_SECRET),
            refresh_token=refresh_token,
            on_rotate=kwargs.pop("on_rotate", on_rotate),
            **kwargs,
        )

    def client(self, tokens: TokenProvider | None = None, **kwargs: Any) -> QuickBooksClient:
        kwargs.setdefault("throttle_wait_seconds", 0.05)
        return QuickBooksClient(
            self.http,
            base_url=self.base_url,
            realm_id="sim-realm",
            token_provider=tokens or self.token_provider(),
            **kwargs,
        )


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    server = TestServer(create_app(AccountingSimConfig()), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        yield Sim(server, http)
    await server.close()


@pytest.fixture
def qbo(sim: Sim) -> QuickBooksClient:
    return sim.client()


async def _invoice(qbo: QuickBooksClient, customer_id: str, amount: str) -> dict[str, Any]:
    line = InvoiceLine("Managed services", Decimal(amount), Decimal("1"), Decimal(amount))
    return await qbo.create_invoice(
        customer_id, [line], date(2026, 11, 1), date(2026, 12, 1), "USD", "autotask:12345"
    )


async def _customer(qbo: QuickBooksClient, name: str = "Acme Dental") -> dict[str, Any]:
    return await qbo.create_customer(name, company_name=name, email="ap@acme.example")


# -- OAuth -------------------------------------------------------------------


async def test_refresh_rotates_the_token_and_stores_it_before_the_first_api_call(sim: Sim) -> None:
    calls_seen_at_rotation: list[dict] = []

    async def on_rotate(new_token: str) -> None:
        sim.rotations.append(new_token)
        calls_seen_at_rotation.append((await sim.control("GET", "/_sim/requests"))["counts"])

    qbo = sim.client(sim.token_provider(on_rotate=on_rotate))
    await _customer(qbo)

    assert len(sim.rotations) == 1
    assert sim.rotations[0].startswith("sim-rt-") and sim.rotations[0] != FIRST_REFRESH_TOKEN
    assert calls_seen_at_rotation == [{"oauth": {"POST": 1}}]  # no API call before on_rotate


async def test_when_storing_the_new_refresh_token_fails_its_access_token_is_not_used(sim: Sim) -> None:
    failures = [RuntimeError("vault down")]

    async def on_rotate(new_token: str) -> None:
        if failures:
            raise failures.pop()
        sim.rotations.append(new_token)

    qbo = sim.client(sim.token_provider(on_rotate=on_rotate))
    with pytest.raises(RuntimeError, match="vault down"):
        await qbo.get("Item", "1")
    assert "Item" not in (await sim.control("GET", "/_sim/requests"))["counts"]

    assert (await qbo.get("Item", "1"))["Name"] == "Services"  # refreshes again, stores, then calls
    seen = await sim.control("GET", "/_sim/requests")
    assert (seen["token_refreshes"], seen["counts"]["Item"], len(sim.rotations)) == (2, {"GET": 1}, 1)


async def test_old_refresh_token_works_during_the_grace_then_is_refused(sim: Sim) -> None:
    await sim.control("PUT", "/_sim/config", {"refresh_token_grace_seconds": 0.3})
    await sim.token_provider().access_token()  # rotates the first refresh token

    await sim.token_provider().access_token()  # still inside the grace: accepted
    await asyncio.sleep(0.35)
    with pytest.raises(QuickBooksAuthError) as refused:
        await sim.token_provider().access_token()

    assert refused.value.reason == "invalid_grant"
    assert "re-authorised" in str(refused.value)


async def test_newest_refresh_token_keeps_working_after_rotation(sim: Sim) -> None:
    await sim.control("PUT", "/_sim/config", {"refresh_token_grace_seconds": 0})
    await sim.token_provider().access_token()

    newest = sim.rotations[-1]
    await sim.token_provider(refresh_token=newest).access_token()

    with pytest.raises(QuickBooksAuthError):
        await sim.token_provider(refresh_token=newest).access_token()  # rotated just now
    assert len(sim.rotations) == 2


async def test_expired_access_token_is_refreshed_once_and_the_call_succeeds(sim: Sim, qbo: QuickBooksClient) -> None:
    customer = await _customer(qbo)
    await sim.control("POST", "/_sim/oauth/expire-access-tokens")

    again = await qbo.get("Customer", customer["Id"])

    assert again["DisplayName"] == "Acme Dental"
    seen = await sim.control("GET", "/_sim/requests")
    assert seen["token_refreshes"] == 2
    assert seen["unauthorized"] == 1
    assert seen["counts"]["Customer"] == {"POST": 1, "GET": 2}  # the refused GET, then the retry
    assert len(sim.rotations) == 2


async def test_concurrent_calls_refresh_the_token_once(sim: Sim, qbo: QuickBooksClient) -> None:
    await asyncio.gather(*(qbo.get("Item", "1") for _ in range(5)))

    assert (await sim.control("GET", "/_sim/requests"))["token_refreshes"] == 1


async def test_a_401_that_survives_a_refresh_is_a_fault_with_the_auth_code(sim: Sim, qbo: QuickBooksClient) -> None:
    await sim.control("POST", "/_sim/faults", {"path_contains": "/item/", "status": 401, "count": 2})

    with pytest.raises(QuickBooksFault) as fault:
        await qbo.get("Item", "1")

    assert (fault.value.status, fault.value.code) == (401, "3200")
    assert (await sim.control("GET", "/_sim/requests"))["token_refreshes"] == 2


async def test_wrong_client_secret_is_an_auth_error_that_does_not_show_the_secret(sim: Sim) -> None:
    tokens = sim.token_provider(client_secret="not-the-secret-42")

    with structlog.testing.capture_logs() as logs, pytest.raises(QuickBooksAuthError) as refused:
        await tokens.access_token()

    assert refused.value.reason == "invalid_client"
    for text in (str(refused.value), repr(tokens), repr(logs)):
        assert "not-the-secret-42" not in text
        assert FIRST_REFRESH_TOKEN not in text


async def test_tokens_never_appear_in_logs_or_reprs(sim: Sim) -> None:
    tokens = sim.token_provider()
    qbo = sim.client(tokens)
    with structlog.testing.capture_logs() as logs:
        access = await tokens.access_token()
        await qbo.get("Item", "1")

    assert [entry["event"] for entry in logs] == ["quickbooks.token_refreshed"]
    for secret in (CLIENT_SECRET, FIRST_REFRESH_TOKEN, access, sim.rotations[0]):
        assert secret not in repr(logs) and secret not in repr(tokens) and secret not in repr(qbo)


# -- invoices and payments ---------------------------------------------------


async def test_created_invoice_gets_a_doc_number_and_an_open_balance(qbo: QuickBooksClient) -> None:
    customer = await _customer(qbo)

    first = await _invoice(qbo, customer["Id"], "500.00")
    second = await _invoice(qbo, customer["Id"], "125.50")

    assert (first["DocNumber"], second["DocNumber"]) == ("1001", "1002")
    assert first["TotalAmt"] == first["Balance"] == Decimal("500.00")
    assert isinstance(first["Balance"], Decimal)
    assert first["CustomerRef"] == {"value": customer["Id"], "name": "Acme Dental"}
    assert [line["DetailType"] for line in first["Line"]] == ["SalesItemLineDetail", "SubTotalLineDetail"]
    assert first["PrivateNote"] == "autotask:12345"
    assert (first["TxnDate"], first["DueDate"]) == ("2026-11-01", "2026-12-01")


async def test_payment_applied_to_an_invoice_lowers_its_balance_and_links_it(qbo: QuickBooksClient) -> None:
    customer = await _customer(qbo)
    invoice = await _invoice(qbo, customer["Id"], "500.00")

    payment = await qbo.create_payment(
        customer["Id"], Decimal("500.00"), [(invoice["Id"], Decimal("500.00"))], "BNG-1234567890", "pay 1"
    )

    assert payment["UnappliedAmt"] == Decimal("0")
    assert payment["PaymentRefNum"] == "BNG-1234567890"
    after = await qbo.get("Invoice", invoice["Id"])
    assert after["Balance"] == Decimal("0.00")
    assert after["LinkedTxn"] == [{"TxnId": payment["Id"], "TxnType": "Payment"}]
    assert after["SyncToken"] == "1"


async def test_a_create_sent_again_with_its_requestid_makes_one_payment_and_gets_the_first_answer(
        sim: Sim, qbo: QuickBooksClient) -> None:
    """Two processes sending the same create at once (a leader that lost its lock mid-create and the one
    that took over; found by the chaos harness, seed 47 of RUNS=50) make one payment, as QuickBooks does
    with the same `requestid`; another requestid is another payment."""
    customer = await _customer(qbo)
    invoice = await _invoice(qbo, customer["Id"], "1000.00")
    sim.server.app[SIM_STATE].config.latency_ms = 200  # both in flight together

    async def create(request_id: str) -> dict[str, Any]:
        return await qbo.create_payment(customer["Id"], Decimal("382.00"), [(invoice["Id"], Decimal("382.00"))],
                                        "T-1", "billing-link payment p1", request_id=request_id)
    first, again = await asyncio.gather(create("intent-1"), create("intent-1"))
    assert first["Id"] == again["Id"] and first == again
    assert (await qbo.get("Invoice", invoice["Id"]))["Balance"] == Decimal("618.00")
    other = await create("intent-2")
    assert other["Id"] != first["Id"]
    assert (await qbo.get("Invoice", invoice["Id"]))["Balance"] == Decimal("236.00")
    with pytest.raises(QuickBooksFault):
        await create("x" * 51)  # QuickBooks takes at most 50 characters


async def test_partial_payments_leave_the_rest_open_and_keep_unapplied_money(qbo: QuickBooksClient) -> None:
    customer = await _customer(qbo)
    invoice = await _invoice(qbo, customer["Id"], "1000.00")

    await qbo.create_payment(customer["Id"], Decimal("400.00"), [(invoice["Id"], Decimal("400.00"))], "P-1")
    assert (await qbo.get("Invoice", invoice["Id"]))["Balance"] == Decimal("600.00")

    second = await qbo.create_payment(
        customer["Id"], Decimal("700.00"), [(invoice["Id"], Decimal("600.00"))], "P-2"
    )
    assert second["UnappliedAmt"] == Decimal("100.00")
    paid = await qbo.get("Invoice", invoice["Id"])
    assert paid["Balance"] == Decimal("0.00")
    assert len(paid["LinkedTxn"]) == 2


async def test_invoice_paid_elsewhere_shows_a_zero_balance(sim: Sim, qbo: QuickBooksClient) -> None:
    customer = await _customer(qbo)
    invoice = await _invoice(qbo, customer["Id"], "500.00")

    cheque = await sim.control("POST", f"/_sim/invoices/{invoice['Id']}/pay-elsewhere", {"amount": "500.00"})

    after = await qbo.get("Invoice", invoice["Id"])
    assert after["Balance"] == Decimal("0")
    assert cheque["PaymentRefNum"].startswith("CHECK-")
    assert after["LinkedTxn"] == [{"TxnId": cheque["Id"], "TxnType": "Payment"}]


async def test_voiding_a_payment_restores_the_invoice_balance(qbo: QuickBooksClient) -> None:
    customer = await _customer(qbo)
    invoice = await _invoice(qbo, customer["Id"], "500.00")
    payment = await qbo.create_payment(
        customer["Id"], Decimal("300.00"), [(invoice["Id"], Decimal("300.00"))], "P-1"
    )

    voided = await qbo.void_payment(payment["Id"])

    assert voided["TotalAmt"] == Decimal("0") and voided["Line"][0]["Amount"] == Decimal("0")
    after = await qbo.get("Invoice", invoice["Id"])
    assert after["Balance"] == Decimal("500.00")
    assert after["LinkedTxn"] == []


async def test_deleting_a_payment_restores_the_invoice_balance(qbo: QuickBooksClient) -> None:
    customer = await _customer(qbo)
    invoice = await _invoice(qbo, customer["Id"], "500.00")
    payment = await qbo.create_payment(
        customer["Id"], Decimal("200.00"), [(invoice["Id"], Decimal("200.00"))], "P-1"
    )

    deleted = await qbo.delete_payment(payment["Id"])

    assert deleted == {"domain": "QBO", "status": "Deleted", "Id": payment["Id"]}
    assert (await qbo.get("Invoice", invoice["Id"]))["Balance"] == Decimal("500.00")
    with pytest.raises(QuickBooksFault) as gone:
        await qbo.get("Payment", payment["Id"])
    assert gone.value.code == "610"


async def test_a_line_over_the_invoice_balance_is_refused_with_a_clear_message(qbo: QuickBooksClient) -> None:
    customer = await _customer(qbo)
    invoice = await _invoice(qbo, customer["Id"], "300.00")

    with pytest.raises(QuickBooksFault) as refused:
        await qbo.create_payment(customer["Id"], Decimal("400.00"), [(invoice["Id"], Decimal("400.00"))], "P-1")

    assert (refused.value.status, refused.value.code) == (400, "6000")
    assert "more than the open balance (300.00)" in refused.value.detail
    assert (await qbo.get("Invoice", invoice["Id"]))["Balance"] == Decimal("300.00")


async def test_find_customer_by_name_handles_quotes_and_misses(qbo: QuickBooksClient) -> None:
    created = await _customer(qbo, "O'Brien Dental")

    found = await qbo.find_customer_by_name("O'Brien Dental")

    assert found is not None and found["Id"] == created["Id"]
    assert await qbo.find_customer_by_name("Nobody Ltd") is None


# -- conflicts, throttling, failures -------------------------------------------


async def test_injected_stale_sync_token_is_reread_and_the_update_succeeds(sim: Sim, qbo: QuickBooksClient) -> None:
    customer = await _customer(qbo)
    invoice = await _invoice(qbo, customer["Id"], "500.00")
    payment = await qbo.create_payment(customer["Id"], Decimal("500.00"), [], "P-1")
    await sim.control(
        "POST", "/_sim/faults", {"path_contains": "/payment", "method": "POST", "status": 400, "code": "5010"}
    )
    apply_it = {"Line": [{"Amount": Decimal("500.00"), "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]}

    updated = await qbo.update("Payment", {"Id": payment["Id"], "SyncToken": payment["SyncToken"], **apply_it})

    assert updated["SyncToken"] == "1" and updated["UnappliedAmt"] == Decimal("0")
    assert (await qbo.get("Invoice", invoice["Id"]))["Balance"] == Decimal("0")
    counts = (await sim.control("GET", "/_sim/requests"))["counts"]["Payment"]
    assert counts == {"POST": 3, "GET": 1}  # create, refused update, re-read, retried update


async def test_a_real_sync_token_conflict_is_resolved_by_rereading(qbo: QuickBooksClient) -> None:
    customer = await _customer(qbo)
    await qbo.update("Customer", {"Id": customer["Id"], "SyncToken": "0", "CompanyName": "Acme Dental LLC"})

    # A writer still holding SyncToken 0 loses the race, then wins on the retry.
    updated = await qbo.update(
        "Customer", {"Id": customer["Id"], "SyncToken": "0", "PrimaryEmailAddr": {"Address": "billing@acme.example"}}
    )

    assert updated["SyncToken"] == "2"
    assert updated["CompanyName"] == "Acme Dental LLC"  # sparse: the other change survives
    assert updated["PrimaryEmailAddr"] == {"Address": "billing@acme.example"}


async def test_conflicts_that_never_end_give_up_with_the_fault(sim: Sim) -> None:
    qbo = sim.client(max_conflict_retries=2)
    customer = await _customer(qbo)
    await sim.control(
        "POST", "/_sim/faults", {"path_contains": "/customer", "method": "POST", "code": "5010", "count": 5}
    )

    with pytest.raises(QuickBooksFault) as fault:
        await qbo.update("Customer", {"Id": customer["Id"], "CompanyName": "X"})

    assert fault.value.is_stale_object
    assert (await sim.control("GET", "/_sim/faults"))[0]["count"] == 2  # 3 attempts used 3 of 5


async def test_throttled_call_is_retried_after_the_wait(sim: Sim, qbo: QuickBooksClient) -> None:
    customer = await _customer(qbo)
    await sim.control("POST", "/_sim/faults", {"path_contains": "/invoice", "status": 429, "code": "3001"})

    invoice = await _invoice(qbo, customer["Id"], "500.00")

    assert invoice["DocNumber"] == "1001"
    seen = await sim.control("GET", "/_sim/requests")
    assert seen["faults_injected"] == 1 and seen["counts"]["Invoice"] == {"POST": 2}


async def test_the_simulators_rate_limit_is_waited_out(sim: Sim) -> None:
    await sim.control("PUT", "/_sim/config", {"rate_limit_per_second": 2})
    qbo = sim.client(throttle_wait_seconds=1.05)

    items = await asyncio.gather(*(qbo.get("Item", "1") for _ in range(3)))

    assert [item["Name"] for item in items] == ["Services"] * 3
    seen = await sim.control("GET", "/_sim/requests")
    assert seen["throttled"] == 1 and seen["counts"]["Item"] == {"GET": 3}


async def test_still_throttled_after_the_retries_is_reported(sim: Sim) -> None:
    qbo = sim.client(max_throttle_retries=2, throttle_wait_seconds=0.01)
    await sim.control("POST", "/_sim/faults", {"path_contains": "/item", "status": 429, "code": "3001", "count": 3})

    with pytest.raises(QuickBooksThrottled) as throttled:
        await qbo.get("Item", "1")

    assert throttled.value.status == 429


async def test_server_errors_and_dead_hosts_are_unavailable(sim: Sim, qbo: QuickBooksClient) -> None:
    await sim.control("POST", "/_sim/faults", {"path_contains": "/item", "status": 503, "code": "500"})
    with pytest.raises(QuickBooksUnavailable) as failed:
        await qbo.get("Item", "1")
    assert failed.value.status == 503

    dead = QuickBooksClient(
        sim.http, base_url="http://127.0.0.1:9", realm_id="sim-realm", token_provider=sim.token_provider()
    )
    with pytest.raises(QuickBooksUnavailable):
        await dead.get("Item", "1")


# -- reading many ----------------------------------------------------------------


async def test_query_pages_through_250_invoices_once_each(sim: Sim, qbo: QuickBooksClient) -> None:
    await sim.control("PUT", "/_sim/config", {"rate_limit_per_second": 100_000, "rate_limit_per_minute": 100_000})
    customer = await _customer(qbo)
    for _ in range(250):
        await _invoice(qbo, customer["Id"], "10.00")
    await sim.control("DELETE", "/_sim/requests")

    seen = [invoice["DocNumber"] async for invoice in qbo.query("SELECT * FROM Invoice", page_size=100)]

    assert sorted(seen) == [str(n) for n in range(1001, 1251)]
    assert (await sim.control("GET", "/_sim/requests"))["counts"] == {"query": {"GET": 3}}
    assert await qbo.count("Invoice", "Balance > '0'") == 250


async def test_cdc_returns_only_what_changed_since_the_given_time(sim: Sim, qbo: QuickBooksClient) -> None:
    customer = await _customer(qbo)
    untouched = await _invoice(qbo, customer["Id"], "100.00")
    paid = await _invoice(qbo, customer["Id"], "200.00")
    since = datetime.now(UTC)
    payment = await qbo.create_payment(customer["Id"], Decimal("200.00"), [(paid["Id"], Decimal("200.00"))], "P-1")
    doomed = await qbo.create_payment(customer["Id"], Decimal("5.00"), [], "P-2")
    await qbo.delete_payment(doomed["Id"])

    changed = await qbo.cdc(["Invoice", "Payment", "Customer"], since)

    assert [i["Id"] for i in changed["Invoice"]] == [paid["Id"]]
    assert changed["Invoice"][0]["Balance"] == Decimal("0")
    assert changed["Customer"] == []
    by_id = {p["Id"]: p for p in changed["Payment"]}
    assert by_id[payment["Id"]]["TotalAmt"] == Decimal("200.00")
    assert by_id[doomed["Id"]]["status"] == "Deleted"
    assert untouched["Id"] not in [i["Id"] for i in changed["Invoice"]]


async def test_cdc_refuses_more_than_30_days_back(qbo: QuickBooksClient) -> None:
    with pytest.raises(QuickBooksFault) as refused:
        await qbo.cdc(["Invoice"], datetime.now(UTC) - timedelta(days=31))

    assert refused.value.status == 400 and "30 days" in refused.value.detail


def test_decimals_go_out_as_json_numbers_with_two_places() -> None:
    encoded = quickbooks_json.dumps({"TotalAmt": Decimal("500"), "Qty": Decimal("0.125"), "Note": "a\"b"})

    assert encoded == '{"TotalAmt": 500.00, "Qty": 0.125, "Note": "a\\"b"}'
    assert quickbooks_json.loads('{"Balance": 500.0}') == {"Balance": Decimal("500.00")}
