"""OpenTelemetry's Python SDK and its OTLP/HTTP exporters against a real stack: redis-server,
`costlog worker` and `costlog api` (with a token), recording rows in SQLite.

Each exporter is configured the way its users configure it: ``OTEL_EXPORTER_OTLP_ENDPOINT``
(the exporter appends /v1/<signal>) and ``OTEL_EXPORTER_OTLP_HEADERS`` for the token.
"""

import http.server
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, LogRecordExportResult

from costlog.cli.redis_server import free_port
from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable, cost_of
from tests.support.otel import (
    SESSION,
    api_request,
    emit_claude_code_events,
    json_body,
    log_provider,
    meter_provider,
    record_claude_code_metrics,
    record_spans,
    sdk_log_request,
    sdk_trace_request,
    tracer_provider,
)
from tests.support.processes import costlog_env, count_rows, process, run, wait_for

pytestmark = pytest.mark.e2e

TOKEN = "otlp-test-token"
#: 2026-11-20T10:00:00Z in Unix milliseconds (tests.support.otel.BASE_NANOS).
BASE_MS = 1_795_168_800_000
#: A "now" for parsing the expected events (their timestamps are all before it).
LATER = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass
class Stack:
    base: str
    db_path: Path

    def rows(self) -> int:
        return count_rows(self.db_path)

    def receipt(self, event_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.base}/api/cost/events/{urllib.parse.quote(event_id)}")
        assert response.status_code == 200, (event_id, response.text)
        return response.json()


@pytest.fixture
def stack(tmp_path: Path, redis_url: str, queue_name: str,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Stack]:
    env = costlog_env(tmp_path, redis_url, queue_name) | {"COSTLOG_API_TOKEN": TOKEN}
    port = free_port()
    assert run(env, "migrate").returncode == 0
    base = f"http://127.0.0.1:{port}"
    with process(env, "worker", log=tmp_path / "worker.log"), \
            process(env, "api", "--port", str(port), log=tmp_path / "api.log"):
        wait_for(lambda: _up(base), 30, "the API")
        # What a user sets for any OTLP exporter (the SDK reads these itself).
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{TOKEN}")
        yield Stack(base, tmp_path / "costlog.db")


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def expected_log_event(sequence: int) -> dict[str, Any]:
    attrs = api_request(sequence)
    return {"event_id": f"otel:{SESSION}:{sequence}:{BASE_MS + sequence * 1001}",
            "project_id": "web", "task_id": SESSION, "phase": "session",
            "model": "claude-sonnet-4-5-20250929", "provider": "claude",
            "cost_usd": float(attrs["cost_usd"]), "duration_ms": 800 + sequence,
            "input_tokens": 10 + sequence, "output_tokens": 200 + sequence,
            "cache_read_tokens": 3000 + sequence, "cache_creation_tokens": 400,
            "timestamp": attrs["event.timestamp"]}


def test_claude_code_logs_through_the_sdk_exporter(stack: Stack) -> None:
    """600 records in batches of 512, gzip: every one recorded once, fields exact."""
    records = [api_request(i) for i in range(600)]
    records.insert(100, {"event.name": "user_prompt", "prompt_length": "42"})  # ignored
    exporter = OTLPLogExporter(compression=Compression.Gzip, timeout=10)
    with log_provider(exporter) as provider:
        emit_claude_code_events(provider, records)
    wait_for(lambda: stack.rows() == 600, 60, "600 rows")

    for sequence in (0, 299, 599):
        expected = expected_log_event(sequence)
        receipt = stack.receipt(expected["event_id"])
        # The receipt's model is the family, model_id the raw id; its time in whole seconds.
        stored = {**expected, "model": "sonnet", "model_id": expected["model"],
                  "cost_source": "reported", "timestamp": expected["timestamp"][:19] + "Z"}
        assert {key: receipt[key] for key in stored} == stored
    total = httpx.get(f"{stack.base}/api/cost/breakdown?project=web").json()["total_cost_usd"]
    assert total == pytest.approx(sum(0.001 * (i % 7 + 1) for i in range(600)), abs=1e-9)

    # The same records exported again (a new exporter: a restarted agent replaying): no new row.
    with log_provider(OTLPLogExporter(timeout=10)) as provider:
        emit_claude_code_events(provider, records[:50])
    text = _metrics(stack)
    assert 'costlog_otlp_records_total{outcome="accepted",signal="logs"} 650.0' in text
    assert 'costlog_otlp_records_total{outcome="ignored",signal="logs"} 1.0' in text
    wait_for(lambda: "costlog_duplicates_ignored_total 50.0" in _metrics(stack), 30,
             "the 50 duplicates")
    assert stack.rows() == 600


def _metrics(stack: Stack) -> str:
    return httpx.get(f"{stack.base}/metrics").text


def test_genai_spans_through_the_sdk_exporter_are_priced(stack: Stack) -> None:
    exporter = OTLPSpanExporter(timeout=10)
    with tracer_provider(exporter) as provider:
        record_spans(provider, 20, plain=5)
    wait_for(lambda: stack.rows() == 20, 60, "20 rows")
    body = httpx.get(f"{stack.base}/api/cost/breakdown?by=task&project=support-bot").json()
    prices = PriceTable()
    expected = {"conv-0": 0.0, "conv-1": 0.0}
    for index in range(20):
        event = parse_event({
            "project_id": "support-bot", "task_id": f"conv-{index % 2}", "phase": "chat",
            "model": "claude-haiku-4-5-20251001", "provider": "claude",
            "input_tokens": 300 + index, "output_tokens": 50 + index,
            "cache_read_tokens": 600, "cache_creation_tokens": 100}, now=LATER)
        expected[event.task_id] += cost_of(event, prices)[0]
    assert expected["conv-0"] > 0
    assert {task: value["cost"] for task, value in body["breakdown"].items()} == \
        pytest.approx(expected, abs=1e-9)
    phases = httpx.get(f"{stack.base}/api/cost/breakdown?by=phase&project=support-bot").json()
    assert list(phases["breakdown"]) == ["chat"]


def test_metrics_through_the_sdk_exporter_are_accepted_not_recorded(stack: Stack) -> None:
    exporter = OTLPMetricExporter(timeout=10)
    with meter_provider(exporter) as provider:
        record_claude_code_metrics(provider)
    wait_for(lambda: 'costlog_otlp_requests_total{encoding="protobuf",signal="metrics"} 1.0'
             in _metrics(stack), 30, "the metrics export")
    assert 'costlog_otlp_records_total{outcome="ignored",signal="metrics"} 4.0' in _metrics(stack)
    assert stack.rows() in (-1, 0)


def test_otlp_json_bodies_from_the_sdk_encoding(stack: Stack) -> None:
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    logs = httpx.post(f"{stack.base}/v1/logs", headers=headers,
                      content=json_body(sdk_log_request([api_request(i) for i in range(5)])))
    traces = httpx.post(f"{stack.base}/v1/traces", headers=headers,
                        content=json_body(sdk_trace_request(3)))
    assert (logs.status_code, logs.json(), traces.status_code, traces.json()) == (
        200, {}, 200, {})
    wait_for(lambda: stack.rows() == 8, 60, "8 rows")
    assert stack.receipt(expected_log_event(4)["event_id"])["input_tokens"] == 14


def test_the_exporter_without_the_token_is_refused(stack: Stack,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS")
    exporter = OTLPLogExporter(timeout=5)
    request_body = sdk_log_request([api_request(0)])
    # The exporter's own export of one batch: refused (401 is not retried), nothing recorded.
    captured = InMemoryLogRecordExporter()
    with log_provider(captured) as provider:
        emit_claude_code_events(provider, [api_request(0)])
    assert exporter.export(captured.get_finished_logs()) == LogRecordExportResult.FAILURE
    exporter.shutdown()
    response = httpx.post(f"{stack.base}/v1/logs", content=request_body.SerializeToString(),
                          headers={"Content-Type": "application/x-protobuf"})
    assert (response.status_code, response.json()) == (401, {"error": "missing or invalid token"})
    assert 'signal="logs"' not in _metrics(stack).split("costlog_otlp_requests_total")[-1]


class FlakyProxy(http.server.ThreadingHTTPServer):
    """Forwards every POST to the API, but answers the first of each path 503 (Retry-After: 0)
    once the API has taken it: the exporter retries a request costlog already has."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.seen: list[tuple[str, int]] = []  # (path, status answered)
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: FlakyProxy

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = {key: value for key, value in self.headers.items()
                   if key.lower() not in ("host", "content-length", "connection")}
        upstream = httpx.post(self.server.target + self.path, content=body, headers=headers)
        first = all(path != self.path for path, _ in self.server.seen)
        status = 503 if first else upstream.status_code
        self.server.seen.append((self.path, status))
        payload = b'{"error": "proxy timed out"}' if first else upstream.content
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if first else
                         upstream.headers["content-type"])
        if first:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass


@pytest.fixture
def flaky_proxy(stack: Stack) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(stack.base)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()
    thread.join(5)


def test_an_exporter_retrying_after_a_503_counts_nothing_twice(
        stack: Stack, flaky_proxy: FlakyProxy) -> None:
    logs = OTLPLogExporter(endpoint=f"{flaky_proxy.base}/v1/logs", timeout=10)
    with log_provider(logs) as provider:
        emit_claude_code_events(provider, [api_request(i) for i in range(30)])
    spans = OTLPSpanExporter(endpoint=f"{flaky_proxy.base}/v1/traces", timeout=10)
    with tracer_provider(spans) as provider:
        record_spans(provider, 4)
    assert flaky_proxy.seen == [("/v1/logs", 503), ("/v1/logs", 200),
                                ("/v1/traces", 503), ("/v1/traces", 200)]
    text = _metrics(stack)
    assert 'costlog_otlp_records_total{outcome="accepted",signal="logs"} 60.0' in text
    wait_for(lambda: "costlog_duplicates_ignored_total 34.0" in _metrics(stack), 30,
             "the retries' 34 duplicates")
    assert stack.rows() == 34


def test_the_same_request_delivered_twice_counts_nothing_twice(stack: Stack) -> None:
    body = sdk_log_request([api_request(i) for i in range(10)]).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", "Authorization": f"Bearer {TOKEN}"}
    for _ in range(2):
        response = httpx.post(f"{stack.base}/v1/logs", content=body, headers=headers)
        assert response.status_code == 200
        assert ExportLogsServiceResponse.FromString(response.content) == \
            ExportLogsServiceResponse()
    wait_for(lambda: "costlog_duplicates_ignored_total 10.0" in _metrics(stack), 30,
             "10 duplicates")
    assert stack.rows() == 10
