"""The accounting simulator on the wire: QuickBooks shapes, rules and the /_sim surface."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from billing_simulators.accounting import AccountingSimConfig, create_app

pytestmark = pytest.mark.timeout(15)

BASIC = "Basic " + base64.b64encode(b"sim-client:sim-client-secret").decode()


@dataclass
class Answer:
    status: int
    text: str
    headers: Any

    @property
    def body(self) -> Any:
        return json.loads(self.text, parse_float=Decimal)

    @property
    def fault(self) -> dict[str, Any]:
        return self.body["Fault"]["Error"][0]


@dataclass
class Sim:
    server: TestServer
    http: aiohttp.ClientSession
    access_token: str = ""

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def call(
        self, method: str, path: str, *, body: Any = None, params: Any = None, headers: Any = None
    ) -> Answer:
        data = json.dumps(body) if body is not None else None
        async with self.http.request(method, self.url(path), data=data, params=params, headers=headers) as response:
            return Answer(response.status, await response.text(), response.headers)

    async def token(self, refresh_token: str = "sim-refresh-token", authorization: str = BASIC) -> Answer:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        async with self.http.post(
            self.url("/oauth2/v1/tokens/bearer"), data=form, headers={"Authorization": authorization}
        ) as response:
            return Answer(response.status, await response.text(), response.headers)

    async def api(self, method: str, path: str, body: Any = None, **params: str) -> Answer:
        headers = {"Authorization": f"Bearer {self.access_token}", "Accept": "application/json"}
        return await self.call(method, f"/v3/company/sim-realm/{path}", body=body, params=params, headers=headers)

    async def query(self, select: str) -> Answer:
        return await self.api("GET", "query", query=select)

    async def ok(self, method: str, path: str, body: Any = None, **params: str) -> dict[str, Any]:
        answer = await self.api(method, path, body, **params)
        assert answer.status == 200, answer.text
        return answer.body

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        answer = await self.call(method, path, body=body)
        assert answer.status < 300, answer.text
        return answer.body

    async def customer(self, name: str = "Acme Dental") -> dict[str, Any]:
        return (await self.ok("POST", "customer", {"DisplayName": name}))["Customer"]

    async def invoice(self, customer_id: str, amount: str = "500.00", **extra: Any) -> dict[str, Any]:
        line = {"DetailType": "SalesItemLineDetail", "Amount": amount, "SalesItemLineDetail": {}}
        body = {"CustomerRef": {"value": customer_id}, "Line": [line], **extra}
        return (await self.ok("POST", "invoice", body))["Invoice"]

    async def payment(self, customer_id: str, total: str, *applied: tuple[str, str]) -> Answer:
        lines = [{"Amount": a, "LinkedTxn": [{"TxnId": i, "TxnType": "Invoice"}]} for i, a in applied]
        body = {"CustomerRef": {"value": customer_id}, "TotalAmt": total, "Line": lines}
        return await self.api("POST", "payment", body)


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    server = TestServer(create_app(AccountingSimConfig()), host="127.0.0.1")
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        simulator = Sim(server, http)
        simulator.access_token = (await simulator.token()).body["access_token"]
        yield simulator
    await server.close()


# -- OAuth ------------------------------------------------------------------------


async def test_token_endpoint_answers_the_intuit_fields_and_rotates(sim: Sim) -> None:
    answer = await sim.token(refresh_token=json.loads((await sim.token()).text)["refresh_token"])

    body = answer.body
    assert answer.status == 200
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    assert body["x_refresh_token_expires_in"] == 8_726_400
    assert body["refresh_token"].startswith("sim-rt-") and body["access_token"].startswith("sim-at-")


async def test_token_endpoint_refuses_a_bad_client_and_an_unknown_refresh_token(sim: Sim) -> None:
    wrong_client = "Basic " + base64.b64encode(b"sim-client:nope").decode()

    assert (await sim.token(authorization=wrong_client)).body == {"error": "invalid_client"}
    assert (await sim.token(authorization=wrong_client)).status == 401
    unknown = await sim.token(refresh_token="sim-rt-never-issued")
    assert (unknown.status, unknown.body) == (400, {"error": "invalid_grant"})


async def test_api_without_a_valid_token_answers_the_lowercase_401(sim: Sim) -> None:
    sim.access_token = "sim-at-bogus"

    answer = await sim.api("GET", "item/1")

    assert answer.status == 401
    assert answer.headers["WWW-Authenticate"] == 'Bearer realm="Intuit", error="invalid_token"'
    error = answer.body["fault"]["error"][0]
    assert error["code"] == "3200" and answer.body["fault"]["type"] == "AUTHENTICATION"
    assert isinstance(answer.body["time"], int)


async def test_expired_access_token_is_refused(sim: Sim) -> None:
    await sim.control("POST", "/_sim/oauth/expire-access-tokens")

    answer = await sim.api("GET", "item/1")

    assert answer.status == 401 and "expired" in answer.body["fault"]["error"][0]["detail"]


async def test_another_realm_is_forbidden(sim: Sim) -> None:
    headers = {"Authorization": f"Bearer {sim.access_token}"}

    answer = await sim.call("GET", "/v3/company/other-realm/item/1", headers=headers)

    assert answer.status == 403 and answer.fault["code"] == "3100"


async def test_minor_versions_below_75_are_refused(sim: Sim) -> None:
    assert (await sim.api("GET", "item/1", minorversion="75")).status == 200
    old = await sim.api("GET", "item/1", minorversion="70")
    assert old.status == 400 and "75" in old.fault["Detail"]


# -- objects -------------------------------------------------------------------------


async def test_defaults_exist_and_money_is_a_json_number(sim: Sim) -> None:
    customer = await sim.customer()
    created = await sim.api("POST", "invoice", {
        "CustomerRef": {"value": customer["Id"]},
        "Line": [{
            "DetailType": "SalesItemLineDetail", "Amount": 500,
            "SalesItemLineDetail": {"Qty": 2, "UnitPrice": 250},
        }],
    })

    assert '"TotalAmt": 500.0' in created.text and '"Balance": 500.0' in created.text
    invoice = created.body["Invoice"]
    assert invoice["Line"][0]["SalesItemLineDetail"]["ItemRef"] == {"value": "1", "name": "Services"}
    assert (invoice["Id"], invoice["SyncToken"], invoice["domain"], invoice["sparse"]) == ("1", "0", "QBO", False)
    assert set(invoice["MetaData"]) == {"CreateTime", "LastUpdatedTime"}
    accounts = await sim.control("GET", "/_sim/accounts")
    assert "Undeposited Funds" in [a["Name"] for a in accounts]


async def test_amount_must_equal_quantity_times_unit_price(sim: Sim) -> None:
    customer = await sim.customer()
    line = {"DetailType": "SalesItemLineDetail", "Amount": 10, "SalesItemLineDetail": {"Qty": 2, "UnitPrice": 3}}

    answer = await sim.api("POST", "invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line]})

    assert answer.status == 400 and answer.fault["code"] == "6070"


async def test_missing_customer_and_missing_lines_are_faults(sim: Sim) -> None:
    no_lines = await sim.api("POST", "invoice", {"CustomerRef": {"value": "1"}, "Line": []})
    no_customer = await sim.api("POST", "invoice", {"CustomerRef": {"value": "99"}, "Line": [{}]})

    assert no_customer.status == 400 and no_customer.fault["code"] == "610"
    assert no_lines.status == 400


async def test_doc_numbers_are_sequential_and_unique(sim: Sim) -> None:
    customer = await sim.customer()
    first = await sim.invoice(customer["Id"])
    chosen = await sim.invoice(customer["Id"], DocNumber="1002")
    third = await sim.invoice(customer["Id"])

    duplicate = await sim.api("POST", "invoice", {
        "CustomerRef": {"value": customer["Id"]}, "DocNumber": "1001",
        "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 1, "SalesItemLineDetail": {}}],
    })

    assert [first["DocNumber"], chosen["DocNumber"], third["DocNumber"]] == ["1001", "1002", "1003"]
    assert duplicate.status == 400 and duplicate.fault["code"] == "6210"


async def test_duplicate_customer_names_are_refused(sim: Sim) -> None:
    await sim.customer("Acme Dental")

    again = await sim.api("POST", "customer", {"DisplayName": "acme dental"})

    assert again.status == 400 and again.fault["code"] == "6240"


async def test_sparse_update_keeps_fields_a_full_update_clears_them(sim: Sim) -> None:
    customer = await sim.customer()
    invoice = await sim.invoice(customer["Id"], PrivateNote="keep me", TxnDate="2026-11-01")

    sparse_change = {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "DueDate": "2026-12-31"}
    sparse = (await sim.ok("POST", "invoice", sparse_change))["Invoice"]
    full = (await sim.ok("POST", "invoice", {
        "Id": invoice["Id"], "SyncToken": "1", "CustomerRef": {"value": customer["Id"]},
        "Line": [{"DetailType": "SalesItemLineDetail", "Amount": 800, "SalesItemLineDetail": {}}],
    }))["Invoice"]

    assert (sparse["PrivateNote"], sparse["DueDate"], sparse["SyncToken"]) == ("keep me", "2026-12-31", "1")
    assert "PrivateNote" not in full and full["SyncToken"] == "2"
    assert full["TotalAmt"] == full["Balance"] == Decimal("800")
    assert full["DocNumber"] == invoice["DocNumber"]


async def test_stale_sync_token_is_fault_5010(sim: Sim) -> None:
    customer = await sim.customer()
    await sim.ok("POST", "customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "A"})

    stale_change = {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "B"}
    stale = await sim.api("POST", "customer", stale_change)

    assert stale.status == 400
    assert (stale.fault["code"], stale.fault["Message"]) == ("5010", "Stale Object Error")
    assert stale.body["Fault"]["type"] == "ValidationFault" and "time" in stale.body


# -- money rules -------------------------------------------------------------------------


async def test_payment_rules_total_and_balance(sim: Sim) -> None:
    customer = await sim.customer()
    invoice = await sim.invoice(customer["Id"], "500.00")

    over_total = await sim.payment(customer["Id"], "100.00", (invoice["Id"], "150.00"))
    first = await sim.payment(customer["Id"], "400.00", (invoice["Id"], "400.00"))
    over_balance = await sim.payment(customer["Id"], "200.00", (invoice["Id"], "200.00"))

    assert over_total.status == 400 and "more than the payment's TotalAmt" in over_total.fault["Detail"]
    assert first.status == 200 and first.body["Payment"]["UnappliedAmt"] == 0
    assert over_balance.status == 400 and "open balance (100.00)" in over_balance.fault["Detail"]
    assert (await sim.ok("GET", f"invoice/{invoice['Id']}"))["Invoice"]["Balance"] == Decimal("100")


async def test_payment_may_be_applied_to_another_customers_invoice_never(sim: Sim) -> None:
    acme = await sim.customer("Acme")
    other = await sim.customer("Other")
    invoice = await sim.invoice(acme["Id"])

    answer = await sim.payment(other["Id"], "10.00", (invoice["Id"], "10.00"))

    assert answer.status == 400 and "another customer" in answer.fault["Detail"]


async def test_removing_a_payment_line_gives_the_balance_back(sim: Sim) -> None:
    customer = await sim.customer()
    invoice = await sim.invoice(customer["Id"], "500.00")
    payment = (await sim.payment(customer["Id"], "500.00", (invoice["Id"], "500.00"))).body["Payment"]

    updated = await sim.ok("POST", "payment", {"Id": payment["Id"], "SyncToken": "0", "sparse": True, "Line": []})

    assert updated["Payment"]["UnappliedAmt"] == Decimal("500")
    assert (await sim.ok("GET", f"invoice/{invoice['Id']}"))["Invoice"]["Balance"] == Decimal("500")


async def test_voiding_an_invoice_leaves_its_payments_unapplied(sim: Sim) -> None:
    customer = await sim.customer()
    invoice = await sim.invoice(customer["Id"], "500.00")
    payment = (await sim.payment(customer["Id"], "500.00", (invoice["Id"], "500.00"))).body["Payment"]
    current = (await sim.ok("GET", f"invoice/{invoice['Id']}"))["Invoice"]

    void_it = {"Id": invoice["Id"], "SyncToken": current["SyncToken"]}
    voided = (await sim.ok("POST", "invoice", void_it, operation="void"))["Invoice"]

    assert (voided["TotalAmt"], voided["Balance"], voided["PrivateNote"]) == (0, 0, "Voided")
    after = (await sim.ok("GET", f"payment/{payment['Id']}"))["Payment"]
    assert after["UnappliedAmt"] == Decimal("500") and after["Line"] == []
    again = await sim.api("POST", "invoice", {"Id": invoice["Id"], "SyncToken": voided["SyncToken"], "sparse": True})
    assert again.status == 400


async def test_pay_elsewhere_defaults_to_the_whole_balance(sim: Sim) -> None:
    customer = await sim.customer()
    invoice = await sim.invoice(customer["Id"], "250.00")

    cheque = await sim.control("POST", f"/_sim/invoices/{invoice['Id']}/pay-elsewhere")

    assert cheque["TotalAmt"] == Decimal("250") and cheque["PaymentRefNum"] == "CHECK-0001"
    [listed] = await sim.control("GET", "/_sim/invoices")
    assert listed["Balance"] == 0 and listed["LinkedTxn"] == [{"TxnId": cheque["Id"], "TxnType": "Payment"}]
    assert [p["Id"] for p in await sim.control("GET", "/_sim/payments")] == [cheque["Id"]]
    assert [c["DisplayName"] for c in await sim.control("GET", "/_sim/customers")] == ["Acme Dental"]


async def test_refund_receipt_needs_a_deposit_account_and_is_found_by_its_note(sim: Sim) -> None:
    customer = await sim.customer()
    invoice = await sim.invoice(customer["Id"], "500.00")
    line = {"DetailType": "SalesItemLineDetail", "Amount": "200.00", "SalesItemLineDetail": {}}
    body = {"CustomerRef": {"value": customer["Id"]}, "Line": [line], "PrivateNote": "refund 1 of payment p1;"}

    missing = await sim.api("POST", "refundreceipt", body)
    created = (await sim.ok("POST", "refundreceipt", {**body, "DepositToAccountRef": {"value": "2"}}))["RefundReceipt"]

    assert missing.status == 400 and missing.fault["element"] == "DepositToAccountRef"
    assert created["TotalAmt"] == Decimal("200") and created["DepositToAccountRef"]["value"] == "2"
    assert (await sim.ok("GET", f"refundreceipt/{created['Id']}"))["RefundReceipt"]["Id"] == created["Id"]
    found = (await sim.query(f"SELECT * FROM RefundReceipt WHERE CustomerRef = '{customer['Id']}'")).body
    assert [r["PrivateNote"] for r in found["QueryResponse"]["RefundReceipt"]] == ["refund 1 of payment p1;"]
    assert [r["Id"] for r in await sim.control("GET", "/_sim/refund-receipts")] == [created["Id"]]
    [listed] = await sim.control("GET", "/_sim/invoices")
    assert listed["Balance"] == Decimal("500")  # a refund receipt moves no invoice balance
    deleted = await sim.ok("POST", "refundreceipt", {"Id": created["Id"], "SyncToken": "0"}, operation="delete")
    assert deleted["RefundReceipt"]["status"] == "Deleted"
    assert await sim.control("GET", "/_sim/refund-receipts") == []


def journal_line(posting: str, account: str, amount: str, customer: str | None = None) -> dict[str, Any]:
    detail: dict[str, Any] = {"PostingType": posting, "AccountRef": {"value": account}}
    if customer:
        detail["Entity"] = {"Type": "Customer", "EntityRef": {"value": customer}}
    return {"DetailType": "JournalEntryLineDetail", "Amount": amount, "JournalEntryLineDetail": detail}


async def test_a_refund_of_unapplied_credit_through_a_clearing_account_closes_the_customers_receivable(
        sim: Sim) -> None:
    """DOMAIN.md's example in the books: 500 received, 300 applied to an invoice, 200 refunded with a refund
    receipt whose item posts to a clearing account, and a journal entry moving the 200 from clearing to the
    customer's A/R: the customer owes nothing and is owed nothing, clearing is 0, income untouched."""
    await sim.control("PUT", "/_sim/config", {"rate_limit_per_second": 100})  # more than 10 calls here
    customer = await sim.customer()
    invoice = await sim.invoice(customer["Id"], "300.00")
    clearing = (await sim.ok("POST", "account", {"Name": "Refunds clearing",
                                                  "AccountType": "Other Current Liability"}))["Account"]
    item = (await sim.ok("POST", "item", {"Name": "Customer refund", "Type": "Service",
                                          "IncomeAccountRef": {"value": clearing["Id"]}}))["Item"]
    await sim.ok("POST", "payment", {"CustomerRef": {"value": customer["Id"]}, "TotalAmt": "500.00",
                                     "Line": [{"Amount": "300.00",
                                               "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}]})
    credit = await sim.control("GET", f"/_sim/customers/{customer['Id']}/receivable")
    assert (credit["Balance"], credit["UnappliedPayments"]) == (Decimal("-200"), Decimal("200"))

    line = {"DetailType": "SalesItemLineDetail", "Amount": "200.00",
            "SalesItemLineDetail": {"ItemRef": {"value": item["Id"]}}}
    await sim.ok("POST", "refundreceipt", {"CustomerRef": {"value": customer["Id"]}, "Line": [line],
                                           "DepositToAccountRef": {"value": "2"}})
    receivable = (await sim.query("SELECT * FROM Account WHERE AccountType = 'Accounts Receivable'")).body
    [ar] = receivable["QueryResponse"]["Account"]
    no_customer = await sim.api("POST", "journalentry", {"Line": [journal_line("Debit", ar["Id"], "200.00"),
                                                                   journal_line("Credit", clearing["Id"], "200.00")]})
    unbalanced = await sim.api("POST", "journalentry", {
        "Line": [journal_line("Debit", ar["Id"], "200.00", customer["Id"]),
                 journal_line("Credit", clearing["Id"], "199.00")]})
    entry = (await sim.ok("POST", "journalentry", {
        "PrivateNote": "refund 1 of payment p1;",
        "Line": [journal_line("Debit", ar["Id"], "200.00", customer["Id"]),
                 journal_line("Credit", clearing["Id"], "200.00")]}))["JournalEntry"]

    assert no_customer.status == 400 and "must choose a customer" in no_customer.fault["Detail"]
    assert unbalanced.status == 400 and unbalanced.fault["code"] == "6000"
    assert entry["TotalAmt"] == Decimal("200")
    answer = await sim.query("SELECT * FROM JournalEntry")
    assert answer.status == 200, answer.text
    found = answer.body["QueryResponse"]["JournalEntry"]
    assert [e["PrivateNote"] for e in found] == ["refund 1 of payment p1;"]
    closed = await sim.control("GET", f"/_sim/customers/{customer['Id']}/receivable")
    assert (closed["Balance"], closed["OpenInvoices"], closed["JournalEntries"]) == (0, 0, Decimal("200"))
    bank = await sim.control("GET", "/_sim/accounts/2/register")
    assert [m["Amount"] for m in bank["Movements"]] == [Decimal("500"), Decimal("-200")]
    assert bank["Balance"] == Decimal("300")
    assert (await sim.control("GET", f"/_sim/accounts/{clearing['Id']}/register"))["Balance"] == 0
    assert (await sim.control("GET", "/_sim/accounts/1/register"))["Balance"] == Decimal("300")  # income
    deleted = await sim.ok("POST", "journalentry", {"Id": entry["Id"], "SyncToken": "0"}, operation="delete")
    assert deleted["JournalEntry"]["status"] == "Deleted"
    assert (await sim.control("GET", f"/_sim/customers/{customer['Id']}/receivable"))["Balance"] == -200


# -- query -----------------------------------------------------------------------------


async def test_query_filters_orders_and_pages(sim: Sim) -> None:
    customer = await sim.customer()
    for amount in ("100.00", "300.00", "200.00", "50.00"):
        await sim.invoice(customer["Id"], amount)

    where = (await sim.query(
        "SELECT * FROM Invoice WHERE TotalAmt >= '100' AND DocNumber IN ('1001', '1002', '1004') "
        "ORDERBY TotalAmt DESC"
    )).body
    page = (await sim.query("select * from Invoice STARTPOSITION 2 MAXRESULTS 2")).body
    like = (await sim.query("SELECT * FROM Customer WHERE DisplayName LIKE 'acme%'")).body
    count = (await sim.query("SELECT COUNT(*) FROM Invoice WHERE Balance > '150.00'")).body

    assert [i["TotalAmt"] for i in where["QueryResponse"]["Invoice"]] == [300, 100]
    assert [i["DocNumber"] for i in page["QueryResponse"]["Invoice"]] == ["1002", "1003"]
    assert (page["QueryResponse"]["startPosition"], page["QueryResponse"]["maxResults"]) == (2, 2)
    assert page["QueryResponse"]["totalCount"] == 4
    assert len(like["QueryResponse"]["Customer"]) == 1
    assert count["QueryResponse"] == {"totalCount": 2}


async def test_query_by_last_updated_time(sim: Sim) -> None:
    customer = await sim.customer()
    old = await sim.invoice(customer["Id"])
    cut = old["MetaData"]["LastUpdatedTime"]
    new = await sim.invoice(customer["Id"])

    answer = (await sim.query(f"SELECT * FROM Invoice WHERE MetaData.LastUpdatedTime > '{cut}'")).body

    assert [i["Id"] for i in answer["QueryResponse"]["Invoice"]] == [new["Id"]]


async def test_query_edge_cases(sim: Sim) -> None:
    empty = await sim.query("SELECT * FROM Invoice")
    with_or = await sim.query("SELECT * FROM Invoice WHERE DocNumber = '1' OR DocNumber = '2'")
    too_many = await sim.query("SELECT * FROM Invoice MAXRESULTS 1001")
    wrong_case = await sim.query("SELECT * FROM invoice")
    bad_list = await sim.query("SELECT Id, FROM Invoice")
    star_twice = await sim.query("SELECT Id, * FROM Invoice")

    assert empty.status == 200 and set(empty.body) == {"QueryResponse", "time"}
    assert empty.body["QueryResponse"] == {}
    for refused in (with_or, too_many, wrong_case, bad_list, star_twice):
        assert refused.status == 400 and refused.fault["code"] == "4000", refused.text


async def test_query_takes_a_column_list_after_star_or_alone(sim: Sim) -> None:
    items = (await sim.query("SELECT *, Sku FROM Item")).body["QueryResponse"]["Item"]
    whole = (await sim.query("SELECT * FROM Item")).body["QueryResponse"]["Item"]
    customer = await sim.customer()
    invoice = await sim.invoice(customer["Id"], "75.00")
    listed = (await sim.query(
        "SELECT Id, SyncToken, MetaData.LastUpdatedTime FROM Invoice WHERE TotalAmt > '10' "
        "ORDERBY Balance DESC")).body["QueryResponse"]
    counted = (await sim.query("select count(*) from Invoice")).body["QueryResponse"]

    assert items == whole and items  # `*, Sku` is still every property of each item
    assert listed["totalCount"] == 1
    assert listed["Invoice"] == [{
        "domain": "QBO", "sparse": True, "Id": invoice["Id"], "SyncToken": invoice["SyncToken"],
        "MetaData": {"LastUpdatedTime": invoice["MetaData"]["LastUpdatedTime"]}}]
    assert counted == {"totalCount": 1}


# -- change data capture --------------------------------------------------------------


async def test_cdc_shape_deleted_objects_and_window(sim: Sim) -> None:
    customer = await sim.customer()
    invoice = await sim.invoice(customer["Id"])
    since = datetime.now(UTC).isoformat()
    payment = (await sim.payment(customer["Id"], "10.00")).body["Payment"]
    await sim.ok("POST", "payment", {"Id": payment["Id"], "SyncToken": "0"}, operation="delete")

    cdc = (await sim.ok("GET", "cdc", entities="Invoice,Payment,Customer", changedSince=since))
    month_ago = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    too_old = await sim.api("GET", "cdc", entities="Invoice", changedSince=month_ago)

    [block] = cdc["CDCResponse"]
    invoices, payments, customers = block["QueryResponse"]
    assert invoices == {} and customers == {}
    assert payments["Payment"][0]["Id"] == payment["Id"] and payments["Payment"][0]["status"] == "Deleted"
    assert too_old.status == 400
    assert invoice["Id"] == "1"


async def test_cdc_is_capped_oldest_first(sim: Sim) -> None:
    since = datetime.now(UTC).isoformat()
    customer = await sim.customer()
    for _ in range(4):
        await sim.invoice(customer["Id"])
    await sim.control("PUT", "/_sim/config", {"cdc_max_objects": 3})

    cdc = await sim.ok("GET", "cdc", entities="Customer,Invoice", changedSince=since)

    customers, invoices = cdc["CDCResponse"][0]["QueryResponse"]
    assert [c["Id"] for c in customers["Customer"]] == [customer["Id"]]
    assert [i["DocNumber"] for i in invoices["Invoice"]] == ["1001", "1002"]


# -- control surface ----------------------------------------------------------------------


async def test_rate_limit_gives_429_and_is_counted(sim: Sim) -> None:
    await sim.control("PUT", "/_sim/config", {"rate_limit_per_second": 2})

    statuses = [(await sim.api("GET", "item/1")).status for _ in range(3)]
    throttled = await sim.api("GET", "item/1")

    assert statuses == [200, 200, 429]
    assert throttled.status == 429 and throttled.fault["code"] == "3001"
    seen = await sim.control("GET", "/_sim/requests")
    assert seen["throttled"] == 2 and seen["counts"]["Item"] == {"GET": 2}


async def test_per_minute_limit_applies_too(sim: Sim) -> None:
    await sim.control("PUT", "/_sim/config", {"rate_limit_per_minute": 1})

    assert [(await sim.api("GET", "item/1")).status for _ in range(2)] == [200, 429]


async def test_injected_faults_hit_the_next_matching_calls_only(sim: Sim) -> None:
    await sim.control("POST", "/_sim/faults", {"path_contains": "item", "status": 400, "code": "5010", "count": 2})

    answers = [await sim.api("GET", "item/1") for _ in range(3)]

    assert [a.status for a in answers] == [400, 400, 200]
    assert answers[0].fault["Message"] == "Stale Object Error"
    assert await sim.control("GET", "/_sim/faults") == []


async def test_reset_empties_the_books_and_keeps_the_tokens(sim: Sim) -> None:
    customer = await sim.customer()
    await sim.invoice(customer["Id"])
    await sim.control("PUT", "/_sim/config", {"latency_ms": 1})

    await sim.control("POST", "/_sim/reset")

    assert await sim.control("GET", "/_sim/invoices") == []
    assert (await sim.control("GET", "/_sim/config"))["latency_ms"] == 0
    assert (await sim.control("GET", "/_sim/config"))["client_secret"] == "****"
    assert (await sim.invoice((await sim.customer())["Id"]))["DocNumber"] == "1001"


async def test_unknown_config_fields_are_refused(sim: Sim) -> None:
    answer = await sim.call("PUT", "/_sim/config", body={"realm_id": "x"})

    assert answer.status == 400


async def test_an_invoice_can_be_read_as_a_pdf():
    from aiohttp import encode_basic_auth
    from aiohttp.test_utils import TestClient, TestServer

    from billing_simulators.accounting import AccountingSimConfig, create_app

    async with TestClient(TestServer(create_app(AccountingSimConfig()))) as client:
        token = (await (await client.post("/oauth2/v1/tokens/bearer", data={
            "grant_type": "refresh_token", "refresh_token": "sim-refresh-token"},
            headers={"Authorization": encode_basic_auth("sim-client", "sim-client-secret")})).json())["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        customer = (await (await client.post("/v3/company/sim-realm/customer", json={"DisplayName": "Acme"},
                                              headers=headers)).json())["Customer"]
        invoice = (await (await client.post("/v3/company/sim-realm/invoice", json={
            "CustomerRef": {"value": customer["Id"]},
            "Line": [{"Amount": 10, "DetailType": "SalesItemLineDetail",
                      "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 10}}]},
            headers=headers)).json())["Invoice"]
        response = await client.get(f"/v3/company/sim-realm/invoice/{invoice['Id']}/pdf", headers=headers)
        assert response.status == 200 and response.content_type == "application/pdf"
        body = await response.read()
        assert body.startswith(b"%PDF") and invoice["DocNumber"].encode() in body
