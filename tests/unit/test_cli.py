"""The operator CLI without a stack: exit codes for bad usage and an unreachable service, the configuration
from the environment and flags, and the formatting of what the APIs answer."""
from __future__ import annotations

import json

from rich.console import Console
from typer.testing import CliRunner

from billing_cli.app import app
from billing_cli.broker import DeadLetter, contract_topic
from billing_cli.commands.status import exit_code, outbox_backlog
from billing_cli.config import Config
from billing_cli.errors import BadUsage, ServiceFailure
from billing_cli.output import (payments_table, reconciliation_clean, status_tables, sync_counts, sync_verdict)
from billing_shared.kafka.topics import TopicNames
from devstack.ports import free_port

CLOSED = f"http://127.0.0.1:{free_port()}"  # nothing listens there


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env={"BILLING_LINK_TOKEN": "t", **(env or {})})


def test_an_unreachable_service_exits_3_and_says_so_in_json():
    result = invoke("--payments-url", CLOSED, "payments", "show", "some-id", "--json")
    assert result.exit_code == 3
    error = json.loads(result.stdout)["error"]
    assert error["exit_code"] == 3 and error["details"]["service"] == "payments"
    assert f"payments is unreachable at {CLOSED}" in error["message"]


def test_kafka_unreachable_exits_3():
    result = invoke("--kafka", f"127.0.0.1:{free_port()}", "dlq", "list", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["error"]["message"].startswith("Kafka is unreachable at 127.0.0.1:")


def test_bad_usage_exits_2():
    assert invoke("dlq", "replay", "billing.payments.v1").exit_code == 2  # neither --offset nor --all
    assert invoke("dlq", "replay", "billing.payments.v1", "--offset", "1", "--all").exit_code == 2
    assert invoke("dlq", "replay", "no.such.topic", "--all", "--dry-run").exit_code == 2
    assert invoke("sync", "now", "--mode", "sideways").exit_code == 2
    assert invoke("payments", "search", "--status", "lost").exit_code == 2
    assert invoke("reconcile", "--from", "yesterday").exit_code == 2
    assert invoke("no-such-command").exit_code == 2


def test_configuration_defaults_match_make_up_and_flags_win():
    config = Config.from_env({})
    assert config.urls["sync"] == "http://127.0.0.1:8081" and config.urls["payments"] == "http://127.0.0.1:8082"
    assert config.urls["notifications"] == "http://127.0.0.1:8083" and config.urls["portal"] == "http://127.0.0.1:8080"
    assert (config.kafka, config.topic_prefix, config.token) == ("localhost:9092", "", "demo-admin-token")
    config = Config.from_env({"SYNC_URL": "http://sync:1/", "BILLING_LINK_TOKEN": "env-token",
                              "KAFKA_BOOTSTRAP_SERVERS": "k:1", "KAFKA_TOPIC_PREFIX": "p."})
    assert (config.urls["sync"], config.token, config.kafka, config.topic_prefix) == \
        ("http://sync:1", "env-token", "k:1", "p.")
    flagged = config.override(urls={"sync": "http://other:2", "payments": None}, kafka=None, topic_prefix="",
                              token="flag-token")
    assert (flagged.urls["sync"], flagged.urls["payments"]) == ("http://other:2", "http://127.0.0.1:8082")
    assert (flagged.token, flagged.kafka, flagged.topic_prefix) == ("flag-token", "k:1", "")


def test_status_exit_code_unreachable_before_unhealthy_before_ok():
    def report(*statuses: int | None, kafka_error: str | None = None) -> dict:
        return {"kafka_error": kafka_error, "consumer_lag": {"g": {"t": 2}}, "dead_letters": {"t": 1},
                "services": {f"s{i}": {"status": s, "healthy": s == 200, "checks": {}, "outbox_backlog": 0}
                             for i, s in enumerate(statuses)}}
    assert exit_code(report(200, 200)) == 0
    assert exit_code(report(200, 503)) == 1
    assert exit_code(report(None, 503)) == 3
    assert exit_code(report(200, 200, kafka_error="Kafka is unreachable")) == 3
    console = Console(record=True, width=120)
    for table in status_tables(report(200, 503)):
        console.print(table)
    text = console.export_text()
    assert "unhealthy" in text and "Consumer lag" in text and "Dead letters" in text


def test_outbox_backlog_is_read_from_the_metrics_gauge():
    metrics = ('# HELP billing_outbox_backlog Outbox rows waiting at the last relay pass\n'
               '# TYPE billing_outbox_backlog gauge\nbilling_outbox_backlog{schema="payments"} 7.0\n')
    assert outbox_backlog(metrics) == 7
    assert outbox_backlog("# TYPE other_total counter\nother_total 3.0\n") is None


def test_sync_counts_one_line_per_entity():
    run = {"run_id": "r1", "status": "failed", "reason": "psa_unreachable",
           "entities": {"invoices": {"fetched": 3, "total": 3, "done": True},
                        "contacts": {"fetched": 1, "total": None, "done": False}}}
    assert sync_counts(run) == ["contacts: 1 fetched", "invoices: 3 fetched of 3"]
    assert sync_verdict(run) == "sync run r1 failed (psa_unreachable)"


def test_a_service_failure_names_the_code_and_the_message_of_the_error_body():
    failure = ServiceFailure("payments", 404, {"error": {"code": "not_found", "message": "payment not found",
                                                         "details": {}}})
    assert failure.exit_code == 1 and failure.message == "payments answered 404 not_found: payment not found"


def test_a_replay_drops_the_parking_headers_and_says_where_it_was_parked():
    letter = DeadLetter("billing.payments.v1", 2, 17, 0, b"k", b"v",
                        (("traceparent", b"00-x"), ("error", b"bad"), ("source_offset", b"5"),
                         ("source_partition", b"2"), ("consumer", b"notifications")))
    assert letter.summary()["source_offset"] == 5 and letter.summary()["consumer"] == "notifications"
    assert letter.replay_headers("p.billing.payments.v1.dlq") == [
        ("traceparent", b"00-x"), ("replayed_from", b"p.billing.payments.v1.dlq:2:17")]


def test_topics_are_named_with_or_without_prefix_and_dlq_suffix():
    names = TopicNames("p.")
    assert {contract_topic(names, t) for t in ("billing.sync.v1", "billing.sync.v1.dlq", "p.billing.sync.v1.dlq")} \
        == {"billing.sync.v1"}
    try:
        contract_topic(names, "billing.nothing.v1")
    except BadUsage as exc:
        assert exc.exit_code == 2
    else:
        raise AssertionError("an unknown topic was taken")


def test_tables_and_verdicts_of_payments_and_reconciliation():
    payment = {"payment_id": "p1", "organization_id": "autotask:678", "status": "succeeded", "sale_amount": "80.00",
               "currency": "USD", "applied_amount": "80.00", "method": {"type": "credit_card", "brand": "visa",
                                                                        "last4": "1111"},
               "applications": [{"invoice_id": "autotask:702", "amount": "80.00"}],
               "transactions": [{"type": "sale", "amount": "80.00", "at": "2026-12-01T10:00:00Z"}]}
    console = Console(record=True, width=200)
    console.print(payments_table([payment]))
    text = console.export_text()
    assert "autotask:702" in text and "visa 1111" in text and "80.00 USD" in text and "2026-12-01 10:00" in text
    run = {"gateway": {"state": "checked"}, "books": {"state": "checked"}, "open_count": 0}
    assert reconciliation_clean({"run": run})
    assert not reconciliation_clean({"run": {**run, "open_count": 1}})
    assert not reconciliation_clean({"run": {**run, "books": {"state": "failed"}}})


def test_payment_dead_letter_and_drift_tables_render_what_the_apis_answer():
    from billing_cli.output import dead_letters_table, payment_tables, reconciliation_tables

    console = Console(record=True, width=200)
    for table in payment_tables({"payment_id": "p1", "status": "succeeded", "method": {"type": "echeck"},
                                 "applications": [{"invoice_id": "autotask:5003", "amount": "99.00"}],
                                 "transactions": [{"type": "sale", "amount": "99.00", "at": "t",
                                                   "transaction_id": "x9"}]}):
        console.print(table)
    console.print(dead_letters_table([{"topic": "billing.payments.v1", "partition": 1, "offset": 4,
                                       "consumer": "sync-payment-writeback", "source_partition": 2, "source_offset": 7,
                                       "error": "invalid event"}], {"billing.payments.v1": 1}))
    run = {"run_id": "r1", "status": "completed", "period_start": "a", "period_end": "b", "drift_count": 1,
           "open_count": 1, "gateway": {"state": "checked"}, "books": {"state": "failed", "failure": "no books"}}
    for table in reconciliation_tables({"run": run, "drifts": [{
            "code": "ledger_payment_missing_in_accounting", "state": "open", "organization_id": "autotask:678",
            "payment_id": "p1", "invoice_id": None, "amount": "99.00", "currency": "USD", "summary": "gone"}]}):
        console.print(table)
    text = console.export_text()
    for expected in ("autotask:5003", "x9", "sync-payment-writeback", "p2@7", "Dead letters (1)", "no books",
                     "ledger_payment_missing_in_accounting", "99.00 USD", "Drifts (1, open 1)"):
        assert expected in text, expected
