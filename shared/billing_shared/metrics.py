"""Prometheus counters of the plumbing, labelled so one process can host several consumers."""
from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter(
    "billing_consumer_events_total",
    "Messages a consumer took from Kafka, by outcome (handled, duplicate, dead_lettered, ignored)",
    ["consumer", "topic", "outcome"],
)
HANDLER_RETRIES = Counter(
    "billing_consumer_retries_total", "Batches retried after a handler or database error", ["consumer"]
)
OUTBOX_PUBLISHED = Counter("billing_outbox_published_total", "Outbox rows published to Kafka", ["schema"])
OUTBOX_BACKLOG = Gauge("billing_outbox_backlog", "Outbox rows waiting when the last relay pass began", ["schema"])
HTTP_REQUESTS = Histogram(
    "billing_http_request_seconds", "HTTP requests by route and status", ["method", "route", "status"]
)
