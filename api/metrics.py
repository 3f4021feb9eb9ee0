"""Prometheus text exposition for /metrics, written by hand (no client library needed).

Process-local numbers (request latency, API rejections) live in :class:`Metrics`; the stored
counters come from the database and the queue numbers from Redis at scrape time.
"""

import math
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.paths import template

if TYPE_CHECKING:  # api.resources imports this module
    from api.resources import QueueState

#: Histogram bucket upper bounds in seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: The route label for requests no route matched (keeps label cardinality bounded).
UNMATCHED = "unmatched"
#: Methods reported by name; any other is "other" (a client cannot invent label values).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def labels(**pairs: str) -> str:
    if not pairs:
        return ""
    return "{" + ",".join(f'{name}="{escape(value)}"' for name, value in pairs.items()) + "}"


def number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class Histogram:
    def __init__(self) -> None:
        self.counts = [0] * len(LATENCY_BUCKETS)
        self.count = 0
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        for index, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.counts[index] += 1
        self.count += 1
        self.sum += seconds


class Metrics:
    """Thread-safe process-local metrics of one app."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events_rejected = 0
        self.latency: dict[tuple[str, str], Histogram] = defaultdict(Histogram)
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)

    def rejected(self, count: int) -> None:
        with self._lock:
            self.events_rejected += count

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        with self._lock:
            self.latency[(route, method)].observe(seconds)
            self.requests[(route, method, str(status))] += 1

    def render(self, stored: dict[str, int] | None, queue: "QueueState | None",
               database_up: bool, redis_up: bool) -> str:
        out: list[str] = []

        def metric(name: str, kind: str, help_text: str,
                   samples: Iterable[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{label} {number(value)}" for label, value in samples)

        if stored is not None:
            metric("costlog_events_ingested_total", "counter",
                   "Events stored in cost_log (new event ids).",
                   [("", stored.get("events_ingested", 0))])
            metric("costlog_duplicates_ignored_total", "counter",
                   "Events ignored because their event_id was already stored.",
                   [("", stored.get("duplicates_ignored", 0))])
            metric("costlog_events_unpriced_total", "counter",
                   "Events stored at cost 0 because their model has no price.",
                   [("", stored.get("events_unpriced", 0))])
        with self._lock:
            rejected = self.events_rejected
            latency = {key: (list(h.counts), h.count, h.sum) for key, h in self.latency.items()}
            requests = dict(self.requests)
        metric("costlog_events_rejected_total", "counter",
               "Events rejected by POST /api/cost/events in this process.", [("", rejected)])
        if queue is not None:
            metric("costlog_queue_depth", "gauge", "Jobs waiting in the costlog queue.",
                   [("", queue.depth)])
            metric("costlog_failed_jobs", "gauge", "Jobs in the queue's failed registry.",
                   [("", queue.failed_jobs)])
            metric("costlog_retrying_jobs", "gauge", "Jobs waiting for a retry after a failure.",
                   [("", queue.retrying)])
            metric("costlog_write_errors", "gauge",
                   "Workers whose last database write failed (disk full, read-only).",
                   [("", len(queue.write_errors))])
        metric("costlog_database_up", "gauge", "1 when the database can be read.",
               [("", int(database_up))])
        metric("costlog_redis_up", "gauge", "1 when Redis answers.", [("", int(redis_up))])
        metric("costlog_http_requests_total", "counter", "HTTP requests by route and status.",
               [(labels(route=route, method=method, status=status), count)
                for (route, method, status), count in sorted(requests.items())])
        out.append("# HELP costlog_http_request_duration_seconds Request latency by route.")
        out.append("# TYPE costlog_http_request_duration_seconds histogram")
        name = "costlog_http_request_duration_seconds"
        for (route, method), (counts, count, total) in sorted(latency.items()):
            for bound, bucket_count in zip(LATENCY_BUCKETS, counts, strict=True):
                out.append(f"{name}_bucket{labels(route=route, method=method, le=number(bound))}"
                           f" {bucket_count}")
            out.append(f"{name}_bucket{labels(route=route, method=method, le='+Inf')} {count}")
            out.append(f"{name}_sum{labels(route=route, method=method)} {number(total)}")
            out.append(f"{name}_count{labels(route=route, method=method)} {count}")
        return "\n".join(out) + "\n"


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
