"""OpenTelemetry's Python SDK and its OTLP/HTTP exporters against a real stack: redis-server,
`costlog worker` and `costlog api` (with a token), recording rows in SQLite.

Each exporter is configured the way its users configure it: ``OTEL_EXPORTER_OTLP_ENDPOINT``
(the exporter appends /v1/<signal>) and ``OTEL_EXPORTER_OTLP_HEADERS`` for the token. One stack
serves the module (a worker takes ~20 s to stop); each test sends its own project and session,
and reads the counters' growth.
"""

import http.server
import re
import sqlite3
import threading
import urllib.parse
import uuid
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

from costlog.cli.redis_server import RedisServer, free_port
from costlog.domain.event import parse_event
from costlog.domain.pricing import PriceTable, price_event
from tests.support.otel import (
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
from tests.support.processes import costlog_env, process, run, wait_for

pytestmark = pytest.mark.e2e

TOKEN = "otlp-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: 2026-11-20T10:00:00Z in Unix milliseconds (tests.support.otel.BASE_NANOS).
BASE_MS = 1_795_168_800_000
#: A "now" for parsing the expected events (their timestamps are all before it).
LATER = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass
class Stack:
    base: str
    db_path: Path

    def rows(self, project: str) -> int:
        try:
            with sqlite3.connect(self.db_path) as conn:
                return conn.execute("SELECT COUNT(*) FROM cost_log WHERE project_id = ?",
                                    (project,)).fetchone()[0]
        except sqlite3.Error:
            return -1

    def receipt(self, event_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.base}/api/cost/events/{urllib.parse.quote(event_id)}")
        assert response.status_code == 200, (event_id, response.text)
        return response.json()

    def metric(self, sample: str) -> float:
        """The value of one /metrics sample (``name{labels}``); 0 when not there yet."""
        text = httpx.get(f"{self.base}/metrics").text
        match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
        return float(match[1]) if match else 0.0

    def otlp(self, signal: str, outcome: str) -> float:
        return self.metric(f'costlog_otlp_records_total{{outcome="{outcome}",signal="{signal}"}}')


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory,
          redis_server: RedisServer) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("otlp-stack")
    queue = f"costlog-otlp-{uuid.uuid4().hex[:8]}"
    env = costlog_env(tmp_path, redis_server.url, queue) | {"COSTLOG_API_TOKEN": TOKEN}
    port = free_port()
    assert run(env, "migrate").returncode == 0
    base = f"http://127.0.0.1:{port}"
    with process(env, "worker", log=tmp_path / "worker.log"), \
            process(env, "api", "--port", str(port), log=tmp_path / "api.log"):
        wait_for(lambda: _up(base), 30, "the API")
        yield Stack(base, tmp_path / "costlog.db")


@pytest.fixture(autouse=True)
def exporter_env(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a user sets for any OTLP exporter (the SDK reads these itself)."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", stack.base)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"Authorization=Bearer%20{TOKEN}")


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def claude_code(project: str) -> dict[str, str]:
    """Claude Code's resource with ``costlog.project`` (from OTEL_RESOURCE_ATTRIBUTES)."""
    return {"service.name": "claude-code", "service.version": "2.0.14",
            "costlog.project": project}


def expected_log_event(sequence: int, session: str, project: str) -> dict[str, Any]:
    attrs = api_request(sequence, session=session)
    return {"event_id": f"otel:{session}:{sequence}:{BASE_MS + sequence * 1001}",
            "project_id": project, "task_id": session, "phase": "session",
            "model": "claude-sonnet-4-5-20250929", "provider": "claude",
            "cost_usd": float(attrs["cost_usd"]), "duration_ms": 800 + sequence,
            "input_tokens": 10 + sequence, "output_tokens": 200 + sequence,
            "cache_read_tokens": 3000 + sequence, "cache_creation_tokens": 400,
            "timestamp": attrs["event.timestamp"]}


def test_claude_code_logs_through_the_sdk_exporter(stack: Stack) -> None:
    """600 records in batches of 512, gzip: every one recorded once, fields exact."""
    project, session = "logs-sdk", "session-logs-sdk"
    records = [api_request(i, session=session) for i in range(600)]
    records.insert(100, {"event.name": "user_prompt", "prompt_length": "42"})  # ignored
    accepted, ignored = stack.otlp("logs", "accepted"), stack.otlp("logs", "ignored")
    exporter = OTLPLogExporter(compression=Compression.Gzip, timeout=10)
    with log_provider(exporter, claude_code(project)) as provider:
        emit_claude_code_events(provider, records)
    wait_for(lambda: stack.rows(project) == 600, 60, "600 rows")

    for sequence in (0, 299, 599):
        expected = expected_log_event(sequence, session, project)
        receipt = stack.receipt(expected["event_id"])
        # The receipt's model is the family, model_id the raw id; its time in whole seconds.
        stored = {**expected, "model": "sonnet", "model_id": expected["model"],
                  "cost_source": "reported", "timestamp": expected["timestamp"][:19] + "Z"}
        assert {key: receipt[key] for key in stored} == stored
    total = httpx.get(f"{stack.base}/api/cost/breakdown?project={project}").json()
    assert total["total_cost_usd"] == pytest.approx(
        sum(0.001 * (i % 7 + 1) for i in range(600)), abs=1e-9)
    assert stack.otlp("logs", "accepted") - accepted == 600
    assert stack.otlp("logs", "ignored") - ignored == 1

    # The same records exported again (a new exporter: a restarted agent replaying): no new row.
    duplicates = stack.metric("costlog_duplicates_ignored_total")
    with log_provider(OTLPLogExporter(timeout=10), claude_code(project)) as provider:
        emit_claude_code_events(provider, records[:50])
    wait_for(lambda: stack.metric("costlog_duplicates_ignored_total") - duplicates == 50, 30,
             "the 50 duplicates")
    assert stack.rows(project) == 600


def test_genai_spans_through_the_sdk_exporter_are_priced(stack: Stack) -> None:
    project = "support-bot"
    ignored = stack.otlp("traces", "ignored")
    with tracer_provider(OTLPSpanExporter(timeout=10), {"service.name": project}) as provider:
        record_spans(provider, 20, plain=5)
    wait_for(lambda: stack.rows(project) == 20, 60, "20 rows")
    body = httpx.get(f"{stack.base}/api/cost/breakdown?by=task&project={project}").json()
    prices = PriceTable()
    expected = {"conv-0": 0.0, "conv-1": 0.0}
    for index in range(20):
        event = parse_event({
            "project_id": project, "task_id": f"conv-{index % 2}", "phase": "chat",
            "model": "claude-haiku-4-5-20251001", "provider": "claude",
            "input_tokens": 300 + index, "output_tokens": 50 + index,
            "cache_read_tokens": 600, "cache_creation_tokens": 100}, now=LATER)
        expected[event.task_id] += price_event(event, prices).cost_usd
    assert expected["conv-0"] > 0
    assert {task: value["cost"] for task, value in body["breakdown"].items()} == \
        pytest.approx(expected, abs=1e-9)
    phases = httpx.get(f"{stack.base}/api/cost/breakdown?by=phase&project={project}").json()
    assert list(phases["breakdown"]) == ["chat"]
    # The 20 request spans around the chats and the 5 plain ones.
    assert stack.otlp("traces", "ignored") - ignored == 25


def test_metrics_through_the_sdk_exporter_are_accepted_not_recorded(stack: Stack) -> None:
    sample = 'costlog_otlp_requests_total{encoding="protobuf",signal="metrics"}'
    requests, ignored = stack.metric(sample), stack.otlp("metrics", "ignored")
    with meter_provider(OTLPMetricExporter(timeout=10)) as provider:
        record_claude_code_metrics(provider)
    assert stack.metric(sample) - requests == 1
    assert stack.otlp("metrics", "ignored") - ignored == 4
    assert stack.otlp("metrics", "accepted") == 0


def test_otlp_json_bodies_from_the_sdk_encoding(stack: Stack) -> None:
    project, session = "json-bodies", "session-json"
    headers = {"Content-Type": "application/json", **AUTH}
    records = [api_request(i, session=session) for i in range(5)]
    logs = httpx.post(f"{stack.base}/v1/logs", headers=headers,
                      content=json_body(sdk_log_request(records, claude_code(project))))
    traces = httpx.post(f"{stack.base}/v1/traces", headers=headers,
                        content=json_body(sdk_trace_request(3, {"service.name": project})))
    assert (logs.status_code, logs.json(), traces.status_code, traces.json()) == (
        200, {}, 200, {})
    wait_for(lambda: stack.rows(project) == 8, 60, "8 rows")
    expected = expected_log_event(4, session, project)
    assert stack.receipt(expected["event_id"])["input_tokens"] == 14


def test_the_exporter_without_the_token_is_refused(stack: Stack,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS")
    project = "no-token"
    captured = InMemoryLogRecordExporter()
    with log_provider(captured, claude_code(project)) as provider:
        emit_claude_code_events(provider, [api_request(0, session="session-no-token")])
    # The exporter's own export of the batch: refused (a 401 is not retried).
    exporter = OTLPLogExporter(timeout=5)
    assert exporter.export(captured.get_finished_logs()) == LogRecordExportResult.FAILURE
    exporter.shutdown()
    response = httpx.post(f"{stack.base}/v1/logs", headers={
        "Content-Type": "application/x-protobuf"}, content=sdk_log_request(
            [api_request(0)], claude_code(project)).SerializeToString())
    assert (response.status_code, response.json()) == (401, {"error": "missing or invalid token"})
    assert stack.rows(project) in (-1, 0)


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
    project = "retried"
    accepted = stack.otlp("logs", "accepted") + stack.otlp("traces", "accepted")
    duplicates = stack.metric("costlog_duplicates_ignored_total")
    logs = OTLPLogExporter(endpoint=f"{flaky_proxy.base}/v1/logs", timeout=10)
    with log_provider(logs, claude_code(project)) as provider:
        emit_claude_code_events(provider, [api_request(i, session="session-retried")
                                           for i in range(30)])
    spans = OTLPSpanExporter(endpoint=f"{flaky_proxy.base}/v1/traces", timeout=10)
    with tracer_provider(spans, {"service.name": project}) as provider:
        record_spans(provider, 4)
    assert flaky_proxy.seen == [("/v1/logs", 503), ("/v1/logs", 200),
                                ("/v1/traces", 503), ("/v1/traces", 200)]
    # Each request was taken twice (the proxy's 503 came after the API's 200)...
    assert stack.otlp("logs", "accepted") + stack.otlp("traces", "accepted") - accepted == 68
    # ...and recorded once.
    wait_for(lambda: stack.metric("costlog_duplicates_ignored_total") - duplicates == 34, 30,
             "the retries' 34 duplicates")
    assert stack.rows(project) == 34


def test_the_same_request_delivered_twice_counts_nothing_twice(stack: Stack) -> None:
    project = "twice"
    duplicates = stack.metric("costlog_duplicates_ignored_total")
    body = sdk_log_request([api_request(i, session="session-twice") for i in range(10)],
                           claude_code(project)).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf", **AUTH}
    for _ in range(2):
        response = httpx.post(f"{stack.base}/v1/logs", content=body, headers=headers)
        assert response.status_code == 200
        assert ExportLogsServiceResponse.FromString(response.content) == \
            ExportLogsServiceResponse()
    wait_for(lambda: stack.metric("costlog_duplicates_ignored_total") - duplicates == 10, 30,
             "10 duplicates")
    assert stack.rows(project) == 10
