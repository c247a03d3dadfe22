"""After the workload: let the system settle (bounded), then read the gateway simulator, the ledger, the
accounting and PSA simulators, the SMTP sink and the topics, and count what was lost or doubled.

The rules are DOMAIN.md section 2's: a live payment has sale = applied + unapplied + refund (each >= 0);
a cancelled one shows all zero; an invoice's balance is its total less the applications of its
non-cancelled payments, 0 <= balance <= total, paid exactly when the balance is 0."""
from __future__ import annotations

import asyncio
import json
import re
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field, fields
from decimal import Decimal
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from billing_shared.events.catalog import BILLING_NOTIFICATIONS
from tests.chaos.harness.system import MANAGER, SERVICES, System
from tests.chaos.harness.workload import Record, repair_webhooks

ZERO = Decimal("0.00")
MARKER = re.compile(r"\[BL-([0-9a-f-]{36})\]")


@dataclass
class Counts:
    sales_without_one_payment: int = 0  # an approved sale at the gateway without exactly one ledger payment
    charged_twice: int = 0  # one order (or one caller's key) with more than one approved sale / payment
    state_disagrees: int = 0  # ledger status against the gateway's (incl. still pending, phantom payments)
    identity_broken: int = 0  # sale = applied + unapplied + refund; cancelled all zero
    invoice_broken: int = 0  # balance < 0 or > total, or != total - applications, or paid flag/date wrong
    accounting_differs: int = 0  # accounting's invoice balance against the ledger's
    psa_paid_date_differs: int = 0
    caller_lost: int = 0  # a caller told 201 about a payment the ledger does not have
    notifications_doubled: int = 0  # two intents for one source event
    tickets_not_one: int = 0  # a ticket intent without exactly one PSA ticket
    emails_doubled: int = 0
    outbox_left: int = 0
    consumer_lag: int = 0
    dlq_events: int = 0
    details: list[str] = field(default_factory=list, repr=False)

    def problems(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self) if f.name != "details")

    def line(self) -> str:
        return " ".join(f"{f.name}={getattr(self, f.name)}" for f in fields(self) if f.name != "details")

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "details"}


class Checker:
    def __init__(self, system: System, record: Record) -> None:
        self.system = system
        self.record = record
        self.emails_resent = 0
        self.waited_for: Counter[str] = Counter()  # counts not yet zero, per settle round (what was late)

    async def settle(self, *, max_seconds: float = 90.0) -> tuple[Counts, float]:
        """Repeat the whole check until every count is zero or the time is up; the last counts win.
        What is doubled never heals, so waiting only lets what is late arrive."""
        started = time.monotonic()
        self.system.gateway.config.latency_ms = 0
        counts = Counts()
        while True:
            await repair_webhooks(self.system)
            try:
                counts = await self.check()
            except Exception as exc:  # noqa: BLE001 - a replica or the broker still coming back
                counts = Counts(details=[f"check failed: {exc!r}", traceback.format_exc(limit=-3)])
                counts.state_disagrees = 1
            if counts.problems() == 0 or time.monotonic() - started > max_seconds:
                return counts, time.monotonic() - started
            self.waited_for.update(k for k, v in counts.as_dict().items() if v)
            await asyncio.sleep(2.0)

    async def check(self) -> Counts:
        c = Counts()
        payments = await self._all("/v1/payments?limit=200")
        invoices = await self._all("/v1/invoices?limit=500")
        self._gateway_against_ledger(c, payments)
        self._ledger_identities(c, payments)
        self._invoices(c, invoices, payments)
        self._callers(c, payments)
        await self._accounting(c, invoices)
        await self._psa(c, invoices)
        if c.accounting_differs or c.psa_paid_date_differs:
            await self._writeback_diagnosis(c, invoices, payments)
        await self._notifications(c)
        await self._outboxes(c)
        await self._topics(c)
        return c

    async def _all(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            status, body = await self.system.api_retrying(
                "payments", "GET", path + (f"&cursor={cursor}" if cursor else ""), token=MANAGER, timeout=30)
            assert status == 200, (path, status, body)
            items += body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                return items

    # -- money -------------------------------------------------------------------------------
    def _gateway_against_ledger(self, c: Counts, payments: list[dict[str, Any]]) -> None:
        by_id = {p["payment_id"]: p for p in payments}
        approved: dict[str, list[Any]] = defaultdict(list)
        declined: set[str] = set()
        for txn in self.system.gateway.transactions.values():
            if txn.type != "sale":
                continue
            if txn.actions and txn.actions[0].success:
                approved[txn.order_id].append(txn)
            else:
                declined.add(txn.order_id)
        charged_back = {hook.transaction_id for hook in self.system.gateway.webhooks
                        if hook.event_type == "chargeback.batch.complete"}
        for order_id, sales in approved.items():
            if len(sales) > 1:
                c.charged_twice += 1
                c.details.append(f"order {order_id}: {len(sales)} approved sales")
            sale = sales[0]
            payment = by_id.get(order_id)
            if payment is None or payment.get("transaction_id") != sale.transaction_id:
                c.sales_without_one_payment += 1
                c.details.append(f"sale {sale.transaction_id} (order {order_id}, {sale.amount}): ledger has "
                                 f"{None if payment is None else (payment['status'], payment.get('transaction_id'))}")
                continue
            refunded = self.system.gateway.refunded_amount(sale)
            if sale.transaction_id in charged_back:
                ok = payment["status"] == "charged_back"
            elif sale.condition == "canceled":
                ok = payment["status"] == "cancelled" and refunded == ZERO
            elif sale.condition == "failed":  # an eCheck returned; a refund sent before that stands at the
                # gateway, and the cancelled payment keeps its row for audit (its amounts show 0.00)
                ok = payment["status"] == "cancelled" and refunded == _refund_rows(payment)
            elif payment["status"] == "cancelled":  # a settled sale's cancel refunds it (refund_via_gateway)
                ok = refunded == sale.amount
            else:
                ok = payment["status"] == "succeeded" and refunded == Decimal(payment["refund_amount"])
            if not ok:
                c.state_disagrees += 1
                c.details.append(f"payment {order_id}: ledger {payment['status']} refund {payment['refund_amount']}, "
                                 f"gateway {sale.condition} refunded {refunded}"
                                 f"{' charged back' if sale.transaction_id in charged_back else ''}")
        for payment in payments:
            pid = payment["payment_id"]
            if pid in approved:
                continue
            if payment["status"] != "failed":
                c.state_disagrees += 1
                c.details.append(f"payment {pid}: ledger {payment['status']} without an approved sale "
                                 f"(declined at gateway: {pid in declined})")

    def _ledger_identities(self, c: Counts, payments: list[dict[str, Any]]) -> None:
        for p in payments:
            sale, applied, unapplied, refund = (Decimal(p[k]) for k in (
                "sale_amount", "applied_amount", "unapplied_amount", "refund_amount"))
            applications = sum((Decimal(a["amount"]) for a in p.get("applications", [])), ZERO)
            if p["status"] == "succeeded":
                ok = sale == applied + unapplied + refund and min(applied, unapplied, refund) >= 0 \
                    and applications == applied
            elif p["status"] in ("cancelled", "failed"):
                ok = sale == applied == unapplied == refund == ZERO and applications == ZERO
            else:
                ok = True  # charged back: amounts kept for audit (invoices are checked); pending: see gateway
            if not ok:
                c.identity_broken += 1
                c.details.append(f"payment {p['payment_id']} {p['status']}: sale {sale} applied {applied} "
                                 f"unapplied {unapplied} refund {refund} applications {applications}")

    def _invoices(self, c: Counts, invoices: list[dict[str, Any]], payments: list[dict[str, Any]]) -> None:
        applied: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for p in payments:
            if p["status"] == "succeeded":
                for a in p.get("applications", []):
                    applied[a["invoice_id"]] += Decimal(a["amount"])
        for inv in invoices:
            total, balance = Decimal(inv["total"]), Decimal(inv["balance"])
            problems = []
            if not ZERO <= balance <= total:
                problems.append("balance out of [0, total]")
            if inv["status"] != "voided":
                if balance != total - applied[inv["invoice_id"]]:
                    problems.append(f"balance != total - applications ({applied[inv['invoice_id']]})")
                if (balance == ZERO) != (inv["status"] == "paid") or (balance == ZERO) != bool(inv.get("paid_on")):
                    problems.append(f"status {inv['status']} paid_on {inv.get('paid_on')}")
            if problems:
                c.invoice_broken += 1
                c.details.append(f"invoice {inv['invoice_id']} total {total} balance {balance}: {'; '.join(problems)}")

    def _callers(self, c: Counts, payments: list[dict[str, Any]]) -> None:
        known = {p["payment_id"] for p in payments}
        for belief in self.record.beliefs:
            ids = {pid for status, _, pid in belief.answers if status == 201 and pid}
            if len(ids) > 1:
                c.charged_twice += 1
                c.details.append(f"key {belief.key}: answered with payments {sorted(ids)}")
            missing = ids - known
            if missing:
                c.caller_lost += 1
                c.details.append(f"key {belief.key}: told 201 for {missing}, not in the ledger")

    async def _accounting(self, c: Counts, invoices: list[dict[str, Any]]) -> None:
        books = {i.get("DocNumber"): i for i in await self.system.sim("accounting", "GET", "/_sim/invoices")}
        for inv in invoices:
            if inv["status"] == "voided" or not inv["invoice_id"].startswith("autotask:"):
                continue
            theirs = books.get(inv["invoice_number"])
            if theirs is None:
                continue
            if Decimal(str(theirs.get("Balance"))) != Decimal(inv["balance"]):
                c.accounting_differs += 1
                c.details.append(f"invoice {inv['invoice_id']}: accounting balance {theirs.get('Balance')}, "
                                 f"ledger {inv['balance']}")

    async def _psa(self, c: Counts, invoices: list[dict[str, Any]]) -> None:
        psa = {f"autotask:{i['id']}": i for i in await self.system.sim("psa", "GET", "/_sim/invoices")}
        for inv in invoices:
            theirs = psa.get(inv["invoice_id"])
            if theirs is None or inv["status"] == "voided" or theirs.get("isVoided"):
                continue
            if bool(theirs.get("paidDate")) != (Decimal(inv["balance"]) == ZERO):
                c.psa_paid_date_differs += 1
                c.details.append(f"invoice {inv['invoice_id']}: PSA paidDate {theirs.get('paidDate')}, "
                                 f"ledger balance {inv['balance']}")

    async def _writeback_diagnosis(self, c: Counts, invoices: list[dict[str, Any]],
                                   payments: list[dict[str, Any]]) -> None:
        """Where the write-back of the payments on a differing invoice stands (for the report only)."""
        wrong = {d.split()[1].rstrip(":") for d in c.details if d.startswith("invoice ")}
        ids = [p["payment_id"] for p in payments
               if {a["invoice_id"] for a in p.get("applications", [])} & wrong]
        conn = await asyncpg.connect(self.system.database_url)
        try:
            rows = await conn.fetch(
                """SELECT payment_id, desired->>'status' AS status, desired_seq, done_seq, attempts,
                          accounting_payment_id, accounting_voided, next_attempt_at - now() AS due_in, last_error
                   FROM sync.payment_writebacks WHERE payment_id = ANY($1)""", ids)
            applied = await conn.fetch("SELECT * FROM sync.writeback_applications WHERE invoice_id = ANY($1)",
                                       list(wrong))
            pending = await conn.fetchval("SELECT count(*) FROM sync.payment_writebacks WHERE desired_seq > done_seq")
            links = await conn.fetch("SELECT invoice_id, accounting_id, doc_number, balance, retired_at "
                                     "FROM sync.accounting_invoices WHERE invoice_id = ANY($1)", list(wrong))
        finally:
            await conn.close()
        c.details.append(f"write-backs pending overall: {pending}; payments on the differing invoices: {ids}")
        c.details += [f"  writeback {dict(r)}" for r in rows] + [f"  application {dict(r)}" for r in applied]
        c.details += [f"  link {dict(r)}" for r in links]
        for r in rows:
            if r["accounting_payment_id"]:
                found = await self.system.sim("accounting", "GET", f"/_sim/payments/{r['accounting_payment_id']}")
                c.details.append(f"  accounting payment {r['accounting_payment_id']}: TotalAmt {found.get('TotalAmt')} "
                                 f"Line {found.get('Line')} note {found.get('PrivateNote')}")
        books = await self.system.sim("accounting", "GET", "/_sim/invoices")
        for link in links:
            for inv in books:
                if str(inv.get("Id")) == link["accounting_id"]:
                    c.details.append(f"  accounting invoice {inv.get('Id')} DocNumber {inv.get('DocNumber')} "
                                     f"Balance {inv.get('Balance')} LinkedTxn {inv.get('LinkedTxn')}")
                    for linked in inv.get("LinkedTxn") or []:
                        found = await self.system.sim("accounting", "GET", f"/_sim/payments/{linked['TxnId']}")
                        pid = str(found.get("PrivateNote") or "").split("payment ")[-1].split(";")[0]
                        ledger = next((p for p in payments if p["payment_id"] == pid), None)
                        c.details.append(
                            f"    accounting payment {linked['TxnId']}: Line {found.get('Line')} note "
                            f"{found.get('PrivateNote')}; ledger {None if ledger is None else (ledger['status'], ledger['applications'])}")

    # -- notifications -------------------------------------------------------------------------
    async def _notifications(self, c: Counts) -> None:
        created = [e["data"] for e in await self._read(self.system.names(BILLING_NOTIFICATIONS))
                   if e.get("event_type") == "notification.created"]
        intents = {n["notification_id"]: n for n in created}
        sources = Counter((n["type"], n["source_event_id"]) for n in intents.values())
        for (kind, source), n in sources.items():
            if n > 1:
                c.notifications_doubled += 1
                c.details.append(f"{n} notifications {kind} for source event {source}")
        tickets = Counter(m.group(1) for t in await self.system.sim("psa", "GET", "/_sim/tickets")
                          for m in [MARKER.search(str(t.get("title", "")))] if m)
        for nid, n in intents.items():
            if "ticket" in n.get("channels", []) and tickets[nid] != 1:
                c.tickets_not_one += 1
                c.details.append(f"notification {nid} ({n['type']}): {tickets[nid]} tickets")
        # An attempt whose outcome is unknown (killed after the sink took the message, before it was
        # recorded) is sent again with the same Message-ID, which mail clients fold into one; two
        # different Message-IDs for one notification and recipient are two emails.
        mails: dict[tuple[str, str], set[str]] = defaultdict(set)
        resent = 0
        for m in await self.system.sim("smtp", "GET", "/_sim/messages"):
            headers = {k.lower(): v for k, v in (m.get("headers") or {}).items()}
            nid = headers.get("x-billing-notification-id")
            if nid:
                for to in m.get("to", []):
                    ids = mails[(nid, to)]
                    resent += headers.get("message-id") in ids
                    ids.add(headers.get("message-id"))
        for (nid, to), ids in mails.items():
            if len(ids) > 1:
                c.emails_doubled += 1
                c.details.append(f"notification {nid}: {len(ids)} different emails to {to}")
        self.emails_resent = resent

    # -- plumbing ------------------------------------------------------------------------------
    async def _outboxes(self, c: Counts) -> None:
        conn = await asyncpg.connect(self.system.database_url)
        try:
            for schema in SERVICES:
                left = await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
                if left:
                    c.outbox_left += left
                    c.details.append(f"{left} events left in {schema}.outbox")
        finally:
            await conn.close()

    async def _topics(self, c: Counts) -> None:
        prefix = self.system.prefix
        admin = AIOKafkaAdminClient(bootstrap_servers=self.system.bootstrap, request_timeout_ms=10_000)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.system.bootstrap, group_id=None)
        await admin.start()
        await consumer.start()
        try:
            groups = [g for g, _ in await admin.list_consumer_groups() if g.startswith(prefix)]
            for group in groups:
                committed = await admin.list_consumer_group_offsets(group)
                ends = await _end_offsets(consumer, list(committed))
                lag = sum(max(ends[tp] - meta.offset, 0) for tp, meta in committed.items() if meta.offset >= 0)
                if lag:
                    c.consumer_lag += lag
                    c.details.append(f"group {group}: lag {lag}")
            dlqs = [t for t in await admin.list_topics() if t.startswith(prefix) and t.endswith(".dlq")]
            partitions = await _partitions(admin, dlqs)
            for tp, end in (await _end_offsets(consumer, partitions)).items():
                if end:
                    c.dlq_events += end
                    c.details.append(f"{end} events in {tp.topic}[{tp.partition}]")
        finally:
            await consumer.stop()
            await admin.close()

    async def _read(self, topic: str) -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.system.bootstrap, group_id=None,
                                    enable_auto_commit=False, isolation_level="read_committed")
        admin = AIOKafkaAdminClient(bootstrap_servers=self.system.bootstrap, request_timeout_ms=10_000)
        await admin.start()
        try:
            partitions = await _partitions(admin, [topic])
        finally:
            await admin.close()
        await consumer.start()
        try:
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            out: list[dict[str, Any]] = []
            deadline = time.monotonic() + 20
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                for msgs in (await consumer.getmany(timeout_ms=300)).values():
                    out += [json.loads(m.value) for m in msgs]
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{topic}: not read to its end")
            return out
        finally:
            await consumer.stop()


async def _end_offsets(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
    if not partitions:
        return {}
    consumer.assign(partitions)  # aiokafka answers end offsets only for assigned partitions
    return await consumer.end_offsets(partitions)


async def _partitions(admin: AIOKafkaAdminClient, topics: list[str]) -> list[TopicPartition]:
    if not topics:
        return []
    return [TopicPartition(d["topic"], p["partition"]) for d in await admin.describe_topics(topics)
            for p in d["partitions"]]


def _refund_rows(payment: dict) -> Decimal:
    """What the ledger's rows say was refunded at the gateway and stands."""
    return sum((Decimal(t["amount"]) for t in payment.get("transactions") or ()
                if t["type"] == "refund" and t.get("transaction_id") and not t.get("failure_reason")), ZERO)
