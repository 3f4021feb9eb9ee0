"""/metrics through prometheus-client: process-local request metrics plus a collector that reads
the stored counters (database) and the queue's numbers (Redis) at scrape time."""

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.paths import template
from ingest.health import QueueState

# A *_created series per counter doubles the output and says nothing a scraper needs.
disable_created_metrics()

#: Histogram bucket upper bounds in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: The route label for requests no route matched (keeps label cardinality bounded).
UNMATCHED = "unmatched"
#: Methods reported by name; any other is "other" (a client cannot invent label values).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


@dataclass(frozen=True)
class Scrape:
    """What the collector reads at scrape time from outside the process."""

    stored: dict[str, int] | None  # the database's counters; None when it cannot be read
    alerts: dict[str, int] | None  # alerts fired, deliveries pending/failed, alerts unqueued
    queue: QueueState | None  # None when Redis cannot be reached
    database_up: bool


class StateCollector(Collector):
    """The stored counters and the queue's numbers, read anew at every scrape."""

    def __init__(self, scrape: Callable[[], Scrape]) -> None:
        self.scrape = scrape

    def collect(self) -> Iterator[Metric]:
        state = self.scrape()
        if state.stored is not None:
            for name, key, text in (
                ("costlog_events_ingested", "events_ingested",
                 "Events stored in cost_log (new event ids)."),
                ("costlog_duplicates_ignored", "duplicates_ignored",
                 "Events ignored because their event_id was already stored."),
                ("costlog_events_unpriced", "events_unpriced",
                 "Events stored at cost 0 because their model has no price."),
                ("costlog_events_refused", "events_refused",
                 "Events refused because a stored sum would pass its exact range."),
                ("costlog_events_revised", "events_revised",
                 "Events that replaced a recorded version of theirs (a higher revision)."),
                ("costlog_events_voided", "events_voided",
                 "Events voided (taken out of every figure, their rows kept)."),
            ):
                yield CounterMetricFamily(name, text, value=state.stored.get(key, 0))
        if state.alerts is not None:
            yield CounterMetricFamily("costlog_alerts_fired", "Budget alerts fired.",
                                      value=state.alerts["fired"])
            deliveries = GaugeMetricFamily(
                "costlog_alert_deliveries", "Alert deliveries (one per alert and webhook) by"
                " status: pending (queued or retrying) or failed (gave up).", labels=["status"])
            for status in ("pending", "failed"):
                deliveries.add_metric([status], state.alerts[status])
            yield deliveries
            yield GaugeMetricFamily(
                "costlog_alerts_unqueued",
                "Alerts whose deliveries are not on the queue yet (a worker's sweep queues them).",
                value=state.alerts["unqueued"])
        queue = state.queue
        if queue is not None:
            for name, value, text in (
                ("costlog_queue_depth", queue.depth, "Jobs waiting in the costlog queue."),
                ("costlog_failed_jobs", queue.failed_jobs, "Jobs in the queue's failed registry."),
                ("costlog_retrying_jobs", queue.retrying,
                 "Jobs waiting for a retry after a failure."),
                ("costlog_write_errors", len(queue.write_errors),
                 "Workers whose last database write failed (disk full, read-only)."),
            ):
                yield GaugeMetricFamily(name, text, value=value)
        yield GaugeMetricFamily("costlog_database_up", "1 when the database can be read.",
                                value=int(state.database_up))
        yield GaugeMetricFamily("costlog_redis_up", "1 when Redis answers.",
                                value=int(queue is not None))


class Metrics:
    """One app's metrics registry: its own request metrics and the state collector."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events_rejected = Counter(
            "costlog_events_rejected", "Events rejected by POST /api/cost/events in this process.",
            registry=self.registry)
        self.otlp_requests = Counter(
            "costlog_otlp_requests", "OTLP export requests taken (answered 200), by signal and"
            " encoding (protobuf or json).", ["signal", "encoding"], registry=self.registry)
        self.otlp_items = Counter(
            "costlog_otlp_records", "Items of OTLP export requests by signal and outcome:"
            " accepted (onto the queue as cost events), refused (invalid, in partial_success)"
            " or ignored (not cost events: other log records, spans without GenAI usage,"
            " metric data points).", ["signal", "outcome"], registry=self.registry)
        self.requests = Counter(
            "costlog_http_requests", "HTTP requests by route and status.",
            ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "costlog_http_request_duration_seconds", "Request latency by route.",
            ["route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)

    def watch(self, scrape: Callable[[], Scrape]) -> None:
        """Read the state through ``scrape`` at every scrape."""
        self.registry.register(StateCollector(scrape))

    def rejected(self, count: int) -> None:
        self.events_rejected.inc(count)

    def otlp(self, signal: str, media_type: str, *, accepted: int, refused: int,
             ignored: int) -> None:
        encoding = "json" if media_type == "application/json" else "protobuf"
        self.otlp_requests.labels(signal, encoding).inc()
        for outcome, count in (("accepted", accepted), ("refused", refused),
                               ("ignored", ignored)):
            self.otlp_items.labels(signal, outcome).inc(count)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.latency.labels(route, method).observe(seconds)
        self.requests.labels(route, method, str(status)).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class TimingMiddleware:
    """Observes every HTTP request's latency under its route template (``/api/…/{id}/cost``)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            path = template(getattr(route, "path", None) or UNMATCHED)
            self.metrics.observe(path, scope["method"], status, time.perf_counter() - started)
